/// <reference types="vite/client" />
import { beforeAll, describe, expect, it } from 'vitest'
import pairsJson from '../../test/fixtures/cache/pairs.json?raw'
import { cosine, localEmbedding } from './embedder'
import { contradiction, contradicts, GUARD_MAX_CHARS, type GuardRule } from './guard'
import { bandKeys, hyperplanes, sharesBand, signature } from './lsh'

/** Each pair must trip `rule` (the first rule that fires), in both directions. */
const expectRule = (rule: GuardRule, pairs: readonly (readonly [string, string])[]): void => {
  for (const [a, b] of pairs) {
    expect(contradiction(a, b), `${a} | ${b}`).toBe(rule)
    expect(contradiction(b, a), `${b} | ${a}`).toBe(rule)
  }
}

/** Each pair must be allowed to share an answer, in both directions. */
const expectAgree = (pairs: readonly (readonly [string, string])[]): void => {
  for (const [a, b] of pairs) {
    expect(contradiction(a, b), `${a} | ${b}`).toBeUndefined()
    expect(contradiction(b, a), `${b} | ${a}`).toBeUndefined()
  }
}

describe('contradicts', () => {
  it('should let identical texts share, and say so as a boolean', () => {
    expect(contradicts('Turn on dark mode', 'Turn on dark mode')).toBe(false)
    expect(contradicts('Turn on dark mode', 'Turn off dark mode')).toBe(true)
    expect(contradicts('', '')).toBe(false)
  })

  describe('length cap', () => {
    it('should compare texts over the cap exactly', () => {
      const long = 'Summarise this log line. '.repeat(GUARD_MAX_CHARS / 20)
      expect(long.length).toBeGreaterThan(GUARD_MAX_CHARS)
      expect(contradiction(long, long)).toBeUndefined()
      expect(contradiction(long, `${long} `)).toBe('too-long')
      expect(contradiction('Summarise this log line.', long)).toBe('too-long')
    })

    it('should answer at once for 100 KB inputs', () => {
      const a = 'x'.repeat(100_000)
      expect(contradicts(a, `${a}y`)).toBe(true)
      expect(contradicts(a, a.slice())).toBe(false)
    })

    it('should read texts right up to the cap', () => {
      const filler = ' ok'.repeat((GUARD_MAX_CHARS - 40) / 3)
      expect(contradiction(`Turn on dark mode.${filler}`, `Turn off dark mode.${filler}`)).toBe(
        'opposite',
      )
    })

    it('should finish on adversarial inputs at the cap (a hang here is a linear-time bug)', () => {
      const n = GUARD_MAX_CHARS - 8
      const fill = (unit: string): string => unit.repeat(Math.floor(n / unit.length))
      const adversarial = [
        fill("'"),
        fill("a 'b"),
        fill('"'),
        fill('`'),
        fill('```a'),
        fill('no '),
        fill('not not '),
        fill('to x '),
        fill('1 '),
        fill('one hundred and '),
        fill('Abc '),
        fill('a_b '),
        fill('a'),
        fill('猫'),
        fill('- 1 '),
        fill('5 °C '),
        fill('f( '),
        fill("x' 'y "),
      ]
      for (const text of adversarial) {
        expect(contradicts(text, text)).toBe(false)
        expect(typeof contradicts(text, `${text} z`)).toBe('boolean')
      }
    })
  })

  describe('script and language', () => {
    it('should refuse the same question in another script', () => {
      expectRule('script', [
        ['Good morning, how are you?', 'Доброе утро, как дела?'],
        ['Explain quantum computing simply', '简单解释一下量子计算'],
        ['I would like a cup of coffee', 'コーヒーを一杯ください'],
        ['What is the weather today?', '오늘 날씨 어때?'],
      ])
    })

    it('should tell Japanese (kana with kanji) from Chinese', () => {
      expectRule('script', [['私は猫が好きです', '我喜欢猫']])
    })

    it('should refuse the same question in another Latin-script language', () => {
      expectRule('language', [
        ['What is the capital of France?', 'Quelle est la capitale de la France ?'],
        ['Where is the nearest train station?', 'Wo ist der nächste Bahnhof?'],
        ['How do I reset my password?', '¿Cómo restablezco mi contraseña?'],
        ['I would like a cup of coffee', 'Ik wil graag een kopje koffie'],
      ])
    })

    it('should say nothing when a language cannot be told', () => {
      expect(contradiction('Bonjour', 'Hello')).not.toBe('language')
    })
  })

  describe('quoted text', () => {
    it('should compare what is quoted exactly', () => {
      expectRule('quoted', [
        ["Translate 'good morning' into Italian", "Translate 'good night' into Italian"],
        ['Count the vowels in "banana"', 'Count the vowels in "bandana"'],
        ['Is "Bob" a palindrome?', 'Is "bob" a palindrome?'],
        ['Explain `git reset --hard`', 'Explain `git reset --soft`'],
        ['Translate “thank you very much”', 'Translate “thank you”'],
        ['Review:\n```\nx = 1\n```', 'Review:\n```\nx = 2\n```'],
      ])
    })

    it('should not take apostrophes for quotes', () => {
      expectAgree([
        ["Why don't the users' settings save?", "Why don't the users' settings save"],
        ["It's Bob's car", "it's bob's car"],
      ])
    })

    it('should agree on the same quote in other words', () => {
      expectAgree([['Please translate "carpe diem"', 'Translate "carpe diem", please']])
    })
  })

  describe('code', () => {
    it('should refuse different identifiers, paths, flags and operators', () => {
      expectRule('code', [
        ['What does Array.prototype.map return?', 'What does Array.prototype.filter return?'],
        ['When should I use useMemo in React?', 'When should I use useCallback in React?'],
        ['Fix the bug in parse_config', 'Fix the bug in parse_args'],
        ['How do I use std::vector?', 'How do I use std::map?'],
        ['What does the -v flag do in grep?', 'What does the -i flag do in grep?'],
        ['What does rm -rf do?', 'What does rm -rf / do?'],
        ['Read config.yaml in Go', 'Read config.json in Go'],
        ['Open /etc/hosts', 'Open /etc/passwd'],
      ])
    })

    it('should let a camel-case name match the same word in lower case', () => {
      expectAgree([["what's a closure in javascript", "What's a closure in JavaScript?"]])
    })

    it('should not read prose punctuation, money or versions as code', () => {
      expectAgree([
        ['Pick a colour (optional)', 'Pick a colour'],
        ['Should I use Python and/or Go?', 'Should I use Python and/or Go'],
        ['Is $5 a fair tip?', 'Is $5 a fair tip'],
        ['e.g. a list of fruits', 'a list of fruits'],
      ])
    })
  })

  describe('numbers and operators', () => {
    it('should refuse different or reordered numbers', () => {
      expectRule('number', [
        ['What is 17 times 23?', 'What is 17 times 24?'],
        ['Is 7 greater than 3?', 'Is 3 greater than 7?'],
        ['Give me three examples', 'Give me two examples'],
        ['Explain Python 3.10', 'Explain Python 3.1'],
        ["What's -5 plus 3?", "What's 5 plus 3?"],
        ['The 10th Fibonacci number', 'The 12th Fibonacci number'],
      ])
    })

    it('should read word numbers, ordinals and separators as the values they are', () => {
      expectAgree([
        ['Give me 3 tips', 'Give me three tips'],
        ['Summarise this in 100 words', 'Summarise this in one hundred words'],
        ['Population over 1,000', 'Population over 1000'],
        ['twenty-five tips', '25 tips'],
        ['Write 2 thousand words', 'Write 2000 words'],
        ['What is the 1st step?', 'What is the first step?'],
        ['Which one is cheaper?', 'Which is cheaper?'],
        ['Wait a second, is this right?', 'Wait, is this right?'],
        ['Room 007', 'Room 7'],
        ['Which one is cheaper, 3 or 4?', 'Which 1 is cheaper, 3 or 4?'],
      ])
    })

    it('should refuse different operators between the same numbers', () => {
      expectRule('operator', [
        ['What is 5 - 3?', 'What is 5 + 3?'],
        ['Is 10 < 20?', 'Is 10 > 20?'],
        ['What is 5 minus 3?', 'What is 5 plus 3?'],
      ])
      expectAgree([['What is two plus two?', 'What is 2 plus 2?']])
    })
  })

  describe('units', () => {
    it('should refuse a quantity in another unit', () => {
      expectRule('unit', [
        ['Convert 5 km to miles', 'Convert 5 miles to km'],
        ["What's 30 °C in Fahrenheit?", "What's 30 °F in Celsius?"],
        ['Convert 100 USD to EUR', 'Convert 100 EUR to USD'],
        ['Set the font size to 16px', 'Set the font size to 16pt'],
        ['Remind me at 7 am', 'Remind me at 7 pm'],
        ['Set the TTL to 60 seconds', 'Set the TTL to 60 minutes'],
        ['Increase the budget by 10%', 'Increase the budget by 10 dollars'],
      ])
    })

    it('should refuse units named without a number, and their order', () => {
      expectRule('unit', [
        ['Boiling point of water in Fahrenheit', 'Boiling point of water in Kelvin'],
        ['How many grams in a pound?', 'How many grams in an ounce?'],
        ['Is a kilogram heavier than a pound?', 'Is a pound heavier than a kilogram?'],
      ])
    })

    it('should read the same quantity written differently as one', () => {
      expectAgree([
        ['It costs $5', 'It costs 5 dollars'],
        ['Walk 5 kilometres', 'Walk 5 km'],
        ['A 5-day itinerary', 'A five-day itinerary'],
        ['twenty-five percent of 80', '25% of 80'],
        ['Bake at 180 °C', 'Bake at 180 °c'],
      ])
    })
  })

  describe('negation', () => {
    it('should refuse a negated prompt, whatever the negator', () => {
      expectRule('negation', [
        ['Should I restart the server?', 'Should I not restart the server?'],
        ['Recipes with peanuts', 'Recipes without peanuts'],
        ['Why can I take ibuprofen with food?', "Why can't I take ibuprofen with food?"],
        ['Find users who verified their email', 'Find users who never verified their email'],
        ['Lines containing a digit', 'Lines containing no digit'],
        ['Why does the container exit?', 'Why doesnt the container exit?'],
        ['Est-ce que le train part ?', 'Est-ce que le train ne part pas ?'],
      ])
    })

    it('should refuse a negation that moved to another verb', () => {
      expectRule('negation', [
        [
          "Don't restart the server, delete the cache",
          "Restart the server, don't delete the cache",
        ],
      ])
    })

    it('should let the same negation in other words share', () => {
      expectAgree([
        ["Don't use var in modern JavaScript", 'Do not use var in modern JavaScript'],
        ["I can't connect to Wi-Fi", 'I cannot connect to Wi-Fi'],
        ["Why don't my tests run in parallel?", 'Why do my tests not run in parallel?'],
        ["I'm unable to install the driver", "I can't install the driver"],
        ["I don't have any sugar", 'I have no sugar'],
      ])
    })
  })

  describe('opposites', () => {
    it('should refuse the opposite pairs named in the issue', () => {
      expectRule('opposite', [
        ['Turn on dark mode', 'Turn off dark mode'],
        ['How do I enable two-factor login?', 'How do I disable two-factor login?'],
        ['Add a user to the group', 'Remove a user from the group'],
        ['Allow traffic on port 443', 'Deny traffic on port 443'],
        ['Increase the heap size', 'Decrease the heap size'],
        ['Stretch before running', 'Stretch after running'],
      ])
    })

    it('should refuse comparatives, superlatives, times and orderings', () => {
      expectRule('opposite', [
        ['Which is the largest planet?', 'Which is the smallest planet?'],
        ['The best way to learn Rust', 'The worst way to learn Rust'],
        ['Find the max value', 'Find the min value'],
        ['Uses more memory', 'Uses less memory'],
        ['Is Python faster than Java?', 'Is Python slower than Java?'],
        ['Which river is longer?', 'Which river is longest?'],
        ['What happened yesterday?', 'What happened today?'],
        ['Go to the previous page', 'Go to the next page'],
        ['Sort in ascending order', 'Sort in descending order'],
        ['Plan my morning routine', 'Plan my evening routine'],
      ])
    })

    it('should read inflections', () => {
      expectRule('opposite', [
        ['Is the flag enabled?', 'Is the flag disabled?'],
        ['Adding rows to the table', 'Removing rows from the table'],
        ['The service stopped', 'The service started'],
        ['Why was access denied?', 'Why was access allowed?'],
      ])
    })

    it('should not fire on a word named on one side only, or on synonyms', () => {
      expectAgree([
        ['Click on the button', 'Click the button'],
        ['How do I delete a file?', 'How do I remove a file?'],
        ['Show me the biggest cities', 'Show me the largest cities'],
        ['How do I begin learning piano?', 'How do I start learning piano?'],
        ['Find a cheap hotel', 'Find an inexpensive hotel'],
      ])
    })

    it('should refuse opposites made with a prefix', () => {
      expectRule('antonym-prefix', [
        ['Install the package globally', 'Uninstall the package globally'],
        ['Is this token valid?', 'Is this token invalid?'],
        ['Mark the account as active', 'Mark the account as inactive'],
        ['Is the feature available?', 'Is the feature unavailable?'],
      ])
      expectAgree([['Write a unit test', 'Write a test for it']])
    })
  })

  describe('entities', () => {
    it('should refuse a different name', () => {
      expectRule('entity', [
        ['What is the capital of France?', 'What is the capital of Spain?'],
        ['Summarise the plot of Hamlet', 'Summarise the plot of Macbeth'],
        ['Who is the CEO of Nvidia?', 'Who is the CEO of Intel?'],
        ['Deploy the app to AWS', 'Deploy the app to GCP'],
      ])
    })

    it('should not read a sentence start, Title Case or shouting as a name', () => {
      expectAgree([
        ['Which laptop is best? Lightweight ones?', 'which laptop is best? lightweight ones?'],
        ['How Do I Reset My Password', 'how do i reset my password'],
        ['WHAT IS THE BOILING POINT OF WATER', 'what is the boiling point of water?'],
        ["What is France's capital?", 'What is the capital of France?'],
        ['who painted the mona lisa', 'Who painted the Mona Lisa?'],
      ])
    })

    it('should refuse the same names in swapped roles', () => {
      expectRule('entity-order', [['Is Alice older than Bob?', 'Is Bob older than Alice?']])
    })
  })

  describe('order', () => {
    it('should refuse swapped roles around a verb or a directional word', () => {
      expectRule('order', [
        ['Does the dog chase the cat?', 'Does the cat chase the dog?'],
        ['Convert a string to an int', 'Convert an int to a string'],
        ['Merge main into the feature branch', 'Merge the feature branch into main'],
        ['Subtract the tax from the total', 'Subtract the total from the tax'],
      ])
    })

    it('should let moved phrases and noun compounds share', () => {
      expectAgree([
        ['In Python, how do I reverse a list?', 'How do I reverse a list in Python?'],
        ['To bake bread, what flour should I use?', 'What flour should I use to bake bread?'],
        ['What are the symptoms of the flu?', 'What are flu symptoms?'],
        [
          'When traveling to Japan, what should I pack?',
          'What should I pack when traveling to Japan?',
        ],
      ])
    })
  })
})

type Pair = { readonly a: string; readonly b: string; readonly category: string }
type Fixture = { readonly neverShare: readonly Pair[]; readonly shouldShare: readonly Pair[] }

const fixture = JSON.parse(pairsJson) as Fixture

/**
 * The tiers as the issue defines them, over the local embedder (256 dimensions) and the default
 * LSH shape (64 planes, 8 bands of 8):
 * - semantic hit: cosine ≥ 0.95 and the guard lets it through;
 * - bucketed hit: the two share a band, cosine ≥ 0.90 and the guard lets it through.
 */
const SEMANTIC_THRESHOLD = 0.95
const BUCKETED_THRESHOLD = 0.9
const planes = hyperplanes(256)

const evaluate = (pair: Pair) => {
  const a = localEmbedding(pair.a)
  const b = localEmbedding(pair.b)
  const similarity = cosine(a, b)
  const banded = sharesBand(bandKeys(signature(a, planes)), bandKeys(signature(b, planes)))
  const rule = contradiction(pair.a, pair.b)
  const guarded = rule !== undefined
  return {
    ...pair,
    similarity,
    rule,
    semanticWithoutGuard: similarity >= SEMANTIC_THRESHOLD,
    bucketedWithoutGuard: banded && similarity >= BUCKETED_THRESHOLD,
    semantic: similarity >= SEMANTIC_THRESHOLD && !guarded,
    bucketed: banded && similarity >= BUCKETED_THRESHOLD && !guarded,
  }
}

describe('the never-share / should-share fixture (test/fixtures/cache/pairs.json)', () => {
  const never = fixture.neverShare.map(evaluate)
  const should = fixture.shouldShare.map(evaluate)
  const count = <T>(rows: readonly T[], test: (row: T) => boolean): number =>
    rows.filter(test).length
  const tally = {
    servedSemantic: count(never, (r) => r.semantic),
    servedBucketed: count(never, (r) => r.bucketed),
    thresholdAloneSemantic: count(never, (r) => r.semanticWithoutGuard),
    thresholdAloneBucketed: count(never, (r) => r.bucketedWithoutGuard),
    refusedByGuard: count(never, (r) => r.rule !== undefined),
    recallSemantic: count(should, (r) => r.semantic),
    recallBucketed: count(should, (r) => r.bucketed),
    paraphrasesRefused: count(should, (r) => r.rule !== undefined),
  }

  beforeAll(() => {
    const percent = (n: number, of: number): string =>
      `${n}/${of} (${((100 * n) / of).toFixed(1)} %)`
    const categories = [...new Set(should.map((r) => r.category))].map((category) => {
      const rows = should.filter((r) => r.category === category)
      const semantic = count(rows, (r) => r.semantic)
      const bucketed = count(rows, (r) => r.bucketed)
      const allowed = count(rows, (r) => r.rule === undefined)
      return `    ${category}: ${semantic} / ${bucketed} / ${allowed} of ${rows.length}`
    })
    const letThrough = never
      .filter((r) => r.rule === undefined)
      .map((r) => `    ${r.similarity.toFixed(3)} ${r.category}: ${r.a} | ${r.b}`)
    console.info(
      [
        'Response cache tiers over test/fixtures/cache/pairs.json, local embedder (hashed word',
        'unigrams + char trigrams, 256 dims), LSH 64 planes in 8 bands of 8:',
        `  never-share pairs served (must be 0): semantic ${tally.servedSemantic}, ` +
          `bucketed ${tally.servedBucketed} of ${never.length}`,
        `  …that the threshold alone would serve: semantic ${tally.thresholdAloneSemantic}, ` +
          `bucketed ${tally.thresholdAloneBucketed}`,
        `  never-share pairs the guard refuses on its own: ` +
          percent(tally.refusedByGuard, never.length),
        `  paraphrase recall: semantic ${percent(tally.recallSemantic, should.length)}, ` +
          `bucketed ${percent(tally.recallBucketed, should.length)}`,
        `  paraphrases the guard refuses: ${tally.paraphrasesRefused}`,
        '  per paraphrase category (semantic hits / bucketed hits / guard lets through):',
        ...categories,
        '  never-share pairs the guard lets through (each below both thresholds):',
        ...letThrough,
      ].join('\n'),
    )
  })

  it('should hold at least 150 never-share pairs across the categories and 50 paraphrases', () => {
    expect(fixture.neverShare.length).toBeGreaterThanOrEqual(150)
    expect(fixture.shouldShare.length).toBeGreaterThanOrEqual(50)
    const categories = new Set(fixture.neverShare.map((pair) => pair.category))
    for (const category of [
      'negation',
      'polarity',
      'numbers',
      'entities',
      'units',
      'code',
      'quoted',
      'language',
      'comparative',
      'time',
    ]) {
      expect(categories, category).toContain(category)
    }
    for (const pair of [...fixture.neverShare, ...fixture.shouldShare]) {
      expect(pair.a).not.toBe(pair.b)
      expect(pair.category).not.toBe('')
    }
  })

  it('should serve no never-share pair from either tier (precision 100 %)', () => {
    const served = never
      .filter((r) => r.semantic || r.bucketed)
      .map((r) => `${r.category}: ${r.a} | ${r.b} (${r.similarity.toFixed(3)})`)
    expect(served).toEqual([])
    expect(tally.servedSemantic + tally.servedBucketed).toBe(0)
  })

  it('should owe that precision to the guard, not to a lenient embedder', () => {
    // Measured: 43 never-share pairs reach 0.95 and 51 share a band at ≥ 0.90. Without the guard
    // each would be a wrong answer; the assertion above fails if a rule stops catching them.
    expect(tally.thresholdAloneSemantic).toBeGreaterThanOrEqual(43)
    expect(tally.thresholdAloneBucketed).toBeGreaterThanOrEqual(51)
  })

  it('should refuse on its own all but the never-share pairs no rule can read', () => {
    // Measured: 211 of 215. The four it lets through name things in lower case ("paris" /
    // "london") or change a table name inside SQL; they score 0.66–0.84 and are left to the
    // threshold.
    expect(tally.refusedByGuard).toBeGreaterThanOrEqual(211)
  })

  it('should refuse no paraphrase', () => {
    const refused = should
      .filter((r) => r.rule !== undefined)
      .map((r) => `${r.rule ?? ''}: ${r.a} | ${r.b}`)
    expect(refused).toEqual([])
  })

  it('should keep the measured paraphrase recall of each tier', () => {
    // Measured with the local embedder: semantic 36/60 (60.0 %), bucketed 38/60 (63.3 %). What is
    // lost is the embedder's, not the guard's (it refuses none): synonyms ("delete"/"remove",
    // 0/11) and politeness ("Please explain what an API is" / "What is an API?", 0/6) share few
    // hashed n-grams; a real embedding model is needed for them.
    expect(tally.recallSemantic).toBeGreaterThanOrEqual(36)
    expect(tally.recallBucketed).toBeGreaterThanOrEqual(38)
  })

  it('should not refuse any fixture prompt against itself reworded mechanically', () => {
    const prompts = [
      ...new Set([...fixture.neverShare, ...fixture.shouldShare].flatMap((p) => [p.a, p.b])),
    ]
    const variants: readonly ((text: string) => string)[] = [
      (text) => (/[?.!]$/.test(text) ? text.slice(0, -1) : `${text}?`),
      (text) => `${text} Thanks!`,
      (text) => `\n ${text}  \n`,
    ]
    for (const variant of variants) {
      for (const prompt of prompts) {
        expect(contradiction(prompt, variant(prompt)), `${prompt} | ${variant(prompt)}`).toBe(
          undefined,
        )
      }
    }
    // Lower case changes only what the guard compares exactly on purpose: code and quotes.
    for (const prompt of prompts) {
      const rule = contradiction(prompt, prompt.toLowerCase())
      expect([undefined, 'code', 'quoted'], prompt).toContain(rule)
    }
  })
})
