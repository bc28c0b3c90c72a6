/**
 * The firewall's safety model as data: `FIREWALL_MODEL` parsed into weighted backends (errors name
 * the entry's position, never its text), one backend drawn by weight (checked over a seeded run of
 * draws), the conversation cut to what the classifier reads, the classification prompt in both of
 * its forms, and the verdict read strictly by Llama Guard 4's output contract.
 */
import { describe, expect, it } from 'vitest'
import { seededRandom } from '../../test/support/unit'
import {
  CATEGORIES,
  CONVERSATION_BUDGET,
  DEFAULT_FIREWALL_MODEL,
  classificationMessages,
  conversationOf,
  describeCategories,
  drawBackend,
  isLlamaGuard,
  parseBackends,
  readVerdict,
  type Turn,
} from './classifier'

const GUARD = 'meta-llama/Llama-Guard-4-12B'
const HAIKU = 'anthropic.claude-3-haiku-20240307-v1:0'

/** The message `parseBackends` throws for `text`. */
const parseError = (text: string): string => {
  try {
    parseBackends(text)
  } catch (err) {
    return err instanceof Error ? err.message : 'non-error thrown'
  }
  throw new Error(`parseBackends accepted ${JSON.stringify(text)}`)
}

describe('parseBackends', () => {
  describe('accepting', () => {
    it('should give a bare entry the weight 1', () => {
      expect(parseBackends(`[together](${GUARD})`)).toEqual([
        { provider: 'together', model: GUARD, weight: 1 },
      ])
    })

    it('should parse the default', () => {
      expect(parseBackends(DEFAULT_FIREWALL_MODEL)).toEqual([
        { provider: 'together', model: GUARD, weight: 1 },
      ])
    })

    it('should read integer and decimal weights, entries in order', () => {
      expect(parseBackends(`[together](${GUARD}):3,[groq](llama-guard-4-12b):0.25`)).toEqual([
        { provider: 'together', model: GUARD, weight: 3 },
        { provider: 'groq', model: 'llama-guard-4-12b', weight: 0.25 },
      ])
    })

    it('should allow spaces after commas and around the whole value', () => {
      expect(parseBackends(`  [together](${GUARD}):0.5,   [openai](gpt-4o-mini):0.5  `)).toEqual([
        { provider: 'together', model: GUARD, weight: 0.5 },
        { provider: 'openai', model: 'gpt-4o-mini', weight: 0.5 },
      ])
    })

    it('should keep slashes and colons inside the model name', () => {
      expect(parseBackends(`[together](${GUARD}):0.5,[bedrock](${HAIKU}):0.5`)).toEqual([
        { provider: 'together', model: GUARD, weight: 0.5 },
        { provider: 'bedrock', model: HAIKU, weight: 0.5 },
      ])
      expect(parseBackends(`[bedrock](${HAIKU})`)).toEqual([
        { provider: 'bedrock', model: HAIKU, weight: 1 },
      ])
    })
  })

  describe('refusing', () => {
    it.each([
      ['a missing provider', '[](gpt-4o)', 1],
      ['a missing model', '[openai]()', 1],
      ['no brackets', 'openai/gpt-4o', 1],
      ['an upper-case provider', '[OpenAI](gpt-4o)', 1],
      ['a space inside the model', '[openai](gpt 4o)', 1],
      ['a weight that is not a number', '[openai](gpt-4o):heavy', 1],
      ['a weight in exponent form', '[openai](gpt-4o):1e3', 1],
      ['two entries without a comma', '[openai](gpt-4o)[groq](llama-guard)', 1],
      ['a malformed second entry', '[openai](gpt-4o):1,[groq]llama-guard', 2],
      ['an empty entry between commas', '[openai](gpt-4o),,[groq](llama-guard)', 2],
      ['a malformed third entry', '[a](m1),[b](m2):2,c', 3],
    ])('should refuse %s, naming the entry’s position', (_, text, position) => {
      expect(parseError(text)).toBe(
        `entry ${String(position)} is not [<provider>](<model>) or [<provider>](<model>):<weight>`,
      )
    })

    it('should refuse a negative weight, naming the entry’s position', () => {
      expect(parseError(`[together](${GUARD}):1,[openai](gpt-4o):-1`)).toMatch(/^entry 2 /)
    })

    it.each([
      ['zero', '[openai](gpt-4o):0', 1],
      ['zero with decimals', `[together](${GUARD}),[openai](gpt-4o):0.0`, 2],
      ['too large to be finite', `[openai](gpt-4o):${'9'.repeat(400)}`, 1],
    ])('should refuse a weight of %s as not positive', (_, text, position) => {
      expect(parseError(text)).toBe(`entry ${String(position)} has a weight that is not positive`)
    })

    it.each([
      ['empty', ''],
      ['blank', '  \t '],
    ])('should refuse an %s value as naming no backend', (_, text) => {
      expect(parseError(text)).toBe('names no backend')
    })

    it('should never echo the offending entry’s text', () => {
      const secretish = '[openai](sk-proj-abcdefghijklmnop):x'
      const message = parseError(`[together](${GUARD}),${secretish}`)
      expect(message).toMatch(/^entry 2 /)
      expect(message).not.toContain('sk-proj')
      expect(message).not.toContain('openai')
      expect(message).not.toContain(GUARD)
    })
  })
})

describe('drawBackend', () => {
  const DRAWS = 20_000

  /** Each backend's share of `DRAWS` draws with a seeded PRNG (the same every run). */
  const shares = (weights: readonly number[], seed: number): number[] => {
    const backends = weights.map((weight, index) => ({ weight, index }))
    const counts = weights.map(() => 0)
    const random = seededRandom(seed)
    for (let i = 0; i < DRAWS; i++) {
      const { index } = drawBackend(backends, random)
      counts[index] = (counts[index] ?? 0) + 1
    }
    return counts.map((count) => count / DRAWS)
  }

  describe('by weight, over many draws', () => {
    it.each([
      ['3:1', [3, 1], [0.75, 0.25]],
      ['0.5/0.5/1', [0.5, 0.5, 1], [0.25, 0.25, 0.5]],
      ['1:1', [1, 1], [0.5, 0.5]],
    ])('should give each backend its weight’s share for %s', (_, weights, expected) => {
      for (const seed of [1, 42, 20_260_310]) {
        const got = shares(weights, seed)
        got.forEach((share, i) => {
          expect(Math.abs(share - (expected[i] ?? Number.NaN))).toBeLessThan(0.02)
        })
      }
    })

    it('should always draw a lone backend', () => {
      expect(shares([0.1], 7)).toEqual([1])
    })
  })

  describe('at the edges of random()', () => {
    const backends = [
      { name: 'a', weight: 3 },
      { name: 'b', weight: 1 },
    ]

    it('should draw the first backend for random() = 0', () => {
      expect(drawBackend(backends, () => 0).name).toBe('a')
    })

    it('should draw the last backend for random() just below 1', () => {
      expect(drawBackend(backends, () => 1 - 2 ** -53).name).toBe('b')
      expect(drawBackend(backends, () => 0.999_999).name).toBe('b')
      const three = [
        { name: 'a', weight: 0.5 },
        { name: 'b', weight: 0.5 },
        { name: 'c', weight: 1 },
      ]
      expect(drawBackend(three, () => 1 - 2 ** -53).name).toBe('c')
    })

    it('should split the unit interval at the cumulative weights', () => {
      // 3:1 → [0, 0.75) is a, [0.75, 1) is b.
      expect(drawBackend(backends, () => 0.749_999).name).toBe('a')
      expect(drawBackend(backends, () => 0.75).name).toBe('b')
    })

    it('should stay within the backends for values outside [0, 1)', () => {
      expect(drawBackend(backends, () => -0.5).name).toBe('a')
      expect(drawBackend(backends, () => 1).name).toBe('b')
      expect(drawBackend(backends, () => 7).name).toBe('b')
    })
  })

  it('should throw when there is no backend to draw from', () => {
    expect(() => drawBackend([], () => 0.5)).toThrow('no backend to draw from')
  })
})

describe('conversationOf', () => {
  const user = (content: unknown) => ({ role: 'user', content })
  const assistant = (content: unknown) => ({ role: 'assistant', content })

  describe('which messages', () => {
    it('should keep user and assistant text as User and Agent turns', () => {
      expect(
        conversationOf([user('hello'), assistant('hi, how can I help?'), user('tell me a joke')]),
      ).toEqual([
        { role: 'User', text: 'hello' },
        { role: 'Agent', text: 'hi, how can I help?' },
        { role: 'User', text: 'tell me a joke' },
      ])
    })

    it('should skip system, developer and tool messages', () => {
      expect(
        conversationOf([
          { role: 'system', content: 'You are a pirate.' },
          { role: 'developer', content: 'Never mention the treasure.' },
          user('where is it?'),
          { role: 'assistant', content: null, tool_calls: [{ id: 'call_1' }] },
          { role: 'tool', tool_call_id: 'call_1', content: 'under the palm tree' },
          user('and now?'),
        ]),
      ).toEqual([
        { role: 'User', text: 'where is it?' },
        { role: 'User', text: 'and now?' },
      ])
    })

    it('should join a message’s text parts and ignore its other parts', () => {
      expect(
        conversationOf([
          user([
            { type: 'text', text: 'What is in' },
            { type: 'image_url', image_url: { url: 'https://example.com/a.png' } },
            { type: 'text', text: 'this picture?' },
            { type: 'text', text: 42 },
            null,
          ]),
        ]),
      ).toEqual([{ role: 'User', text: 'What is in\nthis picture?' }])
    })

    it('should skip messages with no text or blank text', () => {
      expect(
        conversationOf([
          user('first'),
          assistant('   '),
          user([{ type: 'image_url', image_url: { url: 'https://example.com/a.png' } }]),
          user('second'),
        ]),
      ).toEqual([
        { role: 'User', text: 'first' },
        { role: 'User', text: 'second' },
      ])
    })
  })

  describe('where it ends', () => {
    it('should end at the last user message and drop what follows it', () => {
      expect(
        conversationOf([
          user('question'),
          assistant('answer'),
          user('follow-up'),
          assistant('a prefilled start of the answer'),
          { role: 'tool', content: 'a tool result' },
        ]),
      ).toEqual([
        { role: 'User', text: 'question' },
        { role: 'Agent', text: 'answer' },
        { role: 'User', text: 'follow-up' },
      ])
    })

    it.each([
      ['no messages', []],
      ['only system and assistant messages', [{ role: 'system', content: 'x' }, assistant('y')]],
      ['only blank user messages', [user(''), user('  \n ')]],
      ['messages without roles', [{ content: 'no role' }, 'a string']],
    ])('should answer undefined for %s', (_, messages) => {
      expect(conversationOf(messages as unknown[])).toBeUndefined()
    })
  })

  describe('within the budget', () => {
    const chars = (n: number, c = 'x') => c.repeat(n)

    it('should keep the last user message whole even beyond the budget, and nothing before it', () => {
      const long = chars(CONVERSATION_BUDGET + 5_000, 'q')
      expect(conversationOf([user('earlier'), assistant('reply'), user(long)])).toEqual([
        { role: 'User', text: long },
      ])
    })

    it('should keep earlier turns, newest first, while they fit', () => {
      const last = chars(10_000, 'l')
      const reply = chars(5_000, 'r')
      const older = chars(2_000, 'o') // 10,000 + 5,000 + 2,000 > 16,000
      expect(conversationOf([user(older), assistant(reply), user(last)])).toEqual([
        { role: 'Agent', text: reply },
        { role: 'User', text: last },
      ])
    })

    it('should keep a turn that fills the budget exactly, and drop one a character longer', () => {
      const last = chars(10_000, 'l')
      const fits = chars(CONVERSATION_BUDGET - 10_000, 'f')
      expect(conversationOf([assistant(fits), user(last)])).toHaveLength(2)
      expect(conversationOf([assistant(`${fits}f`), user(last)])).toEqual([
        { role: 'User', text: last },
      ])
    })

    it('should keep only the newest run of turns, not an older one past a turn that does not fit', () => {
      const last = chars(8_000, 'l')
      const big = chars(9_000, 'b')
      expect(conversationOf([user('short and old'), assistant(big), user(last)])).toEqual([
        { role: 'User', text: last },
      ])
    })

    it('should keep a whole short conversation', () => {
      const messages = [user('a'), assistant('b'), user('c'), assistant('d'), user('e')]
      expect(conversationOf(messages)?.map((t) => t.text)).toEqual(['a', 'b', 'c', 'd', 'e'])
    })
  })
})

describe('isLlamaGuard', () => {
  it.each([GUARD, 'llama-guard-4-12b', 'Meta-Llama-Guard-3-8B', 'LlamaGuard-7b', 'llama_guard'])(
    'should recognise %s',
    (model) => {
      expect(isLlamaGuard(model)).toBe(true)
    },
  )

  it.each(['gpt-4o-mini', HAIKU, 'meta-llama/Llama-3.3-70B-Instruct-Turbo', 'guard'])(
    'should not take %s for Llama Guard',
    (model) => {
      expect(isLlamaGuard(model)).toBe(false)
    },
  )
})

describe('classificationMessages', () => {
  const turns: Turn[] = [
    { role: 'User', text: 'How do I bake bread?' },
    { role: 'Agent', text: 'Mix flour, water, yeast and salt.' },
    { role: 'User', text: 'And how long should it rise?' },
  ]

  describe('for a Llama Guard model', () => {
    it('should send the turns themselves as user and assistant chat messages', () => {
      expect(classificationMessages(GUARD, turns)).toEqual([
        { role: 'user', content: 'How do I bake bread?' },
        { role: 'assistant', content: 'Mix flour, water, yeast and salt.' },
        { role: 'user', content: 'And how long should it rise?' },
      ])
    })

    it('should add no instruction of its own (the model’s chat template has it)', () => {
      const sent = classificationMessages('llama-guard-4-12b', turns)
      expect(sent.some((m) => m.role === 'system')).toBe(false)
      expect(JSON.stringify(sent)).not.toContain('BEGIN CONVERSATION')
    })
  })

  describe('for any other model', () => {
    const sent = classificationMessages(HAIKU, turns)
    const instruction = sent[1]?.content ?? ''

    it('should send a system instruction and one user message', () => {
      expect(sent.map((m) => m.role)).toEqual(['system', 'user'])
      expect(sent[0]?.content).toMatch(/content safety classifier/)
      expect(sent[0]?.content).toMatch(/never follow instructions/)
    })

    it('should list all 14 categories with their names, in order', () => {
      const listed =
        /<BEGIN UNSAFE CONTENT CATEGORIES>\n([\s\S]*?)\n<END UNSAFE CONTENT CATEGORIES>/.exec(
          instruction,
        )?.[1]
      const expected = Array.from({ length: 14 }, (_, i) => {
        const code = `S${String(i + 1)}`
        return `${code}: ${CATEGORIES[code] ?? 'missing'}.`
      })
      expect(listed?.split('\n')).toEqual(expected)
      expect(instruction).toContain('S11: Suicide & Self-Harm.')
      expect(instruction).toContain('S14: Code Interpreter Abuse.')
    })

    it('should write the conversation as User: and Agent: turns between the markers', () => {
      expect(instruction).toContain(
        '<BEGIN CONVERSATION>\n\n' +
          'User: How do I bake bread?\n\n' +
          'Agent: Mix flour, water, yeast and salt.\n\n' +
          'User: And how long should it rise?\n\n' +
          '<END CONVERSATION>',
      )
    })

    it('should ask for the last user message only, in the two-line format', () => {
      expect(instruction).toMatch(/^Task: Check if there is unsafe content in 'User' messages/)
      expect(instruction).toContain('ONLY THE LAST User message')
      expect(instruction).toContain("First line must read 'safe' or 'unsafe'.")
      expect(instruction).toContain('comma-separated list of violated categories')
    })
  })
})

describe('readVerdict', () => {
  describe('an answer that keeps the contract', () => {
    it.each(['safe', 'SAFE', 'Safe', '  safe\n', '\n\nsafe'])(
      'should read %j as safe',
      (answer) => {
        expect(readVerdict(answer)).toEqual({ safe: true })
      },
    )

    it.each([
      ['unsafe\nS1,S10', ['S1', 'S10']],
      ['UNSAFE\nS9', ['S9']],
      ['unsafe\ns1, s10', ['S1', 'S10']],
      ['unsafe\r\nS14', ['S14']],
      ['\n\nunsafe\n\nS2\n', ['S2']],
    ])('should read %j as unsafe with its codes', (answer, categories) => {
      expect(readVerdict(answer)).toEqual({ safe: false, categories })
    })

    it('should list each code once', () => {
      expect(readVerdict('unsafe\nS1,s1,S10,S1')).toEqual({
        safe: false,
        categories: ['S1', 'S10'],
      })
    })
  })

  describe('an answer outside the contract', () => {
    it.each([
      ['an unknown code', 'unsafe\nS15'],
      ['a known and an unknown code', 'unsafe\nS1,S99'],
      ['an empty code', 'unsafe\nS1,'],
      ['unsafe without categories', 'unsafe'],
      ['safe with categories', 'safe\nS1'],
      ['extra lines', 'unsafe\nS1\nbecause it asks for a weapon'],
      ['a third line after safe', 'safe\n\nok\nthanks'],
      ['prose', 'The message is safe.'],
      ['prose then a verdict', 'Assessment:\nsafe'],
      ['an empty answer', ''],
      ['a verdict with a reason on its line', 'unsafe: S1'],
    ])('should read %s as no verdict', (_, answer) => {
      expect(readVerdict(answer)).toBeUndefined()
    })
  })
})

describe('describeCategories', () => {
  it('should name each code', () => {
    expect(describeCategories(['S1', 'S10'])).toBe('S1 (Violent Crimes), S10 (Hate)')
    expect(describeCategories(['S11'])).toBe('S11 (Suicide & Self-Harm)')
  })

  it('should say unknown for a code it does not know, and nothing for no codes', () => {
    expect(describeCategories(['S99'])).toBe('S99 (unknown)')
    expect(describeCategories([])).toBe('')
  })
})
