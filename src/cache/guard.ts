/**
 * @module The contradiction guard of the similarity tiers (semantic and bucketed): before an answer
 * found by embedding similarity is served, the stored prompt and the incoming one are compared, and
 * anything that says they ask for different answers makes the lookup a miss. Pure.
 *
 * Why it exists: embeddings place a prompt and its opposite side by side. "Turn on dark mode" and
 * "turn off dark mode" pass any threshold real paraphrases pass (vllm-project/semantic-router#2691,
 * where raising the threshold did not help), and a question and its exact reversal scored
 * 0.83–0.9997 across nine encoders (GPTCache #694). A threshold cannot keep them apart; the few
 * tokens that flip an answer can, so the guard reads those (specs/cache/NOTES.md).
 *
 * It fails closed. A wrong `true` costs one upstream call; a wrong `false` serves an answer to
 * another question. So each rule prefers a false alarm to a silent mix-up. A rule that has no
 * opinion (a language it has no word list for, a word it does not know) stays silent, and the
 * similarity threshold decides. The word rules are English-first; every language gets the script,
 * language, number, unit, quote and code rules and a few common negation words.
 *
 * The rules, in the order they run (each is described where it is defined):
 * `script`, `language`, `quoted`, `number`, `operator`, `code`, `unit`, `negation`, `opposite`,
 * `antonym-prefix`, `entity`, `entity-order`, `order`, plus `too-long` for the length cap.
 *
 * Cost: one pass over each text to split it into tokens, then set and map look-ups, so the work
 * grows linearly with the length. The only regular expressions test one character. Texts longer
 * than {@link GUARD_MAX_CHARS} are compared exactly (see there).
 */

/**
 * Longest text (UTF-16 code units) the guard reads. Past it, two texts are the same prompt only if
 * they are identical. Embedding models read a bounded prefix: bge models read 512 tokens, about
 * 2 KB of English, and OpenAI's models read 8,191. So two long prompts that differ after that
 * prefix embed the same, and a long prompt (a document, a diff, a log) is where one changed line
 * changes the answer. Capping also bounds the CPU cost of a lookup when inputs reach 100 KB.
 */
export const GUARD_MAX_CHARS = 8_192

/** Why `contradiction` refused to share an answer (the first rule that fired). */
export type GuardRule =
  | 'too-long'
  | 'script'
  | 'language'
  | 'quoted'
  | 'code'
  | 'number'
  | 'operator'
  | 'unit'
  | 'negation'
  | 'opposite'
  | 'antonym-prefix'
  | 'entity'
  | 'entity-order'
  | 'order'

/** `true` when the incoming prompt must not be served the stored prompt's answer. */
export const contradicts = (stored: string, incoming: string): boolean =>
  contradiction(stored, incoming) !== undefined

/** The first rule by which `incoming` must not be served `stored`'s answer, or `undefined`. */
export const contradiction = (stored: string, incoming: string): GuardRule | undefined => {
  if (stored === incoming) return undefined
  if (stored.length > GUARD_MAX_CHARS || incoming.length > GUARD_MAX_CHARS) return 'too-long'
  const a = analyse(stored)
  const b = analyse(incoming)
  for (const [name, fires] of RULES) if (fires(a, b)) return name
  return undefined
}

// ---------------------------------------------------------------------------------------------
// Tokens

type Token = {
  readonly kind: 'word' | 'number' | 'symbol'
  /** As written, after NFKC (full-width forms, ligatures and `℃` folded). */
  readonly text: string
  /** Lower case, typographic apostrophes as `'`, possessive `'s` dropped. */
  readonly lower: string
  /** No white space between this token and the previous one. */
  readonly attached: boolean
  /** First word or number of the text, of a line, or after `. ! ? : ;`. */
  readonly sentenceStart: boolean
}

// One character each: no quantifier, so nothing to backtrack over.
const LETTER = /^[\p{L}\p{M}]$/u
const SPACE = /^\s$/u
const isLetter = (c: string): boolean =>
  (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c > '\u007f' && LETTER.test(c))
const isDigit = (c: string): boolean => c >= '0' && c <= '9'
const isApostrophe = (c: string): boolean => c === "'" || c === '\u2019' || c === '\u02bc'
const SENTENCE_BREAKS = new Set(['.', '!', '?', ':', ';', '\u3002', '\uff01', '\uff1f'])

const lowerWord = (text: string): string => {
  const lower = text.toLowerCase().replaceAll('\u2019', "'").replaceAll('\u02bc', "'")
  return lower.endsWith("'s") ? lower.slice(0, -2) : lower
}

const tokenize = (text: string): Token[] => {
  const chars = Array.from(text)
  const at = (i: number): string => chars[i] ?? ''
  const tokens: Token[] = []
  let attached = false
  let sentenceStart = true
  const push = (kind: Token['kind'], from: number, to: number): void => {
    const raw = chars.slice(from, to).join('')
    const isSymbol = kind === 'symbol'
    tokens.push({
      kind,
      text: raw,
      lower: kind === 'word' ? lowerWord(raw) : raw,
      attached,
      sentenceStart: !isSymbol && sentenceStart,
    })
    if (!isSymbol) sentenceStart = false
    attached = true
  }
  let i = 0
  while (i < chars.length) {
    const c = at(i)
    let j = i + 1
    if (isLetter(c)) {
      while (isLetter(at(j)) || (isApostrophe(at(j)) && isLetter(at(j + 1)))) j++
      push('word', i, j)
    } else if (isDigit(c)) {
      while (isDigit(at(j)) || ((at(j) === '.' || at(j) === ',') && isDigit(at(j + 1)))) j++
      push('number', i, j)
    } else if (SPACE.test(c)) {
      attached = false
      if (c === '\n') sentenceStart = true
    } else {
      push('symbol', i, j)
      if (SENTENCE_BREAKS.has(c)) sentenceStart = true
    }
    i = j
  }
  return tokens
}

/** One set of the space-separated words of every line given. */
const wordSet = (...lists: readonly string[]): ReadonlySet<string> =>
  new Set(lists.flatMap((list) => list.split(' ')))

/** English function words: not content for `order`, not names for `entity`. */
const FUNCTION_WORDS = wordSet(
  'a an the and or but if then so than as of to in on at by for with from into onto about',
  'is are was were be been being am do does did doing have has had having',
  'can could will would shall should may might must',
  'i me my mine you your yours we us our they them their it its he him his she her this that',
  'these those what which who whom whose how why when where there here',
  "please just also very really actually quite let let's tell me hi hey thanks what's it's",
  "i'm i've i'd you're that's there's how's where's who's up down out off over",
)

// ---------------------------------------------------------------------------------------------
// Rule: script and language

type Script =
  | 'latin'
  | 'greek'
  | 'cyrillic'
  | 'armenian'
  | 'hebrew'
  | 'arabic'
  | 'indic'
  | 'thai'
  | 'georgian'
  | 'hangul'
  | 'kana'
  | 'han'

const SCRIPT_RANGES: readonly (readonly [number, number, Script])[] = [
  [0x41, 0x24f, 'latin'],
  [0x370, 0x3ff, 'greek'],
  [0x400, 0x52f, 'cyrillic'],
  [0x530, 0x58f, 'armenian'],
  [0x590, 0x5ff, 'hebrew'],
  [0x600, 0x77f, 'arabic'],
  [0x900, 0xdff, 'indic'],
  [0xe00, 0xe7f, 'thai'],
  [0x10a0, 0x10ff, 'georgian'],
  [0x1100, 0x11ff, 'hangul'],
  [0x1e00, 0x1eff, 'latin'],
  [0x3040, 0x30ff, 'kana'],
  [0x3130, 0x318f, 'hangul'],
  [0x3400, 0x4dbf, 'han'],
  [0x4e00, 0x9fff, 'han'],
  [0xac00, 0xd7af, 'hangul'],
]

const scriptOf = (codePoint: number): Script | undefined => {
  for (const [from, to, script] of SCRIPT_RANGES) {
    if (codePoint < from) return undefined
    if (codePoint <= to) return script
  }
  return undefined
}

/**
 * The script most letters are written in. Japanese mixes kana with Han characters, so any kana
 * makes a Han-led text Japanese; Han alone is Chinese.
 */
const dominantScript = (tokens: readonly Token[]): Script | undefined => {
  const counts = new Map<Script, number>()
  for (const token of tokens) {
    if (token.kind !== 'word') continue
    for (const c of token.text) {
      const script = scriptOf(c.codePointAt(0) ?? 0)
      if (script !== undefined) counts.set(script, (counts.get(script) ?? 0) + 1)
    }
  }
  const kana = counts.get('kana') ?? 0
  if (kana > 0) counts.set('kana', kana + (counts.get('han') ?? 0))
  let best: Script | undefined
  let bestCount = 0
  for (const [script, count] of counts) {
    if (count > bestCount) [best, bestCount] = [script, count]
  }
  return best
}

/**
 * Very common words of the Latin-script languages people most often send, each chosen to be rare
 * in the others (English `was` also counts for German). A text is in a language when at least two
 * of its words are on that list and more than on any other list; else it has no language here.
 */
const LANGUAGE_WORDS: ReadonlyMap<string, ReadonlySet<string>> = new Map([
  [
    'en',
    wordSet(
      'the is are was were what how why when where which who do does did can could would should',
      'i you my your it this that of to and in for with on be have has me please a an there',
    ),
  ],
  [
    'fr',
    wordSet(
      'le la les un une des est sont et du que qui quel quelle quels quelles comment pourquoi',
      "je tu vous nous il elle ce cette dans pour avec sur pas ne mon ma mes votre au aux où c'est",
      "j'ai moi toi de",
    ),
  ],
  [
    'es',
    wordSet(
      'el la los las un una es son y de del que qué cómo cuál dónde cuándo por para con en mi mis',
      'tu su se lo al está hay yo usted este esta puedo quiero tengo',
    ),
  ],
  [
    'de',
    wordSet(
      'der die das den dem des ein eine einen ist sind und wie was warum wo wann ich du sie wir',
      'es mit für auf nicht mein meine zu im ob kann können welche welcher viel',
    ),
  ],
  [
    'it',
    wordSet(
      'il lo gli le un una è di che perché per con sono del della dei delle dove quale cosa mi',
      'questo questa anche ho',
    ),
  ],
  [
    'pt',
    wordSet(
      'o os as um uma é de da das dos que como em com não são qual onde você sua seu pela pelo',
      'meu minha para isso',
    ),
  ],
  [
    'nl',
    wordSet(
      'het een is zijn en van wat hoe waarom ik je jij u met voor op niet mijn dat die er te naar',
      'kan wil graag',
    ),
  ],
])

const languageOf = (tokens: readonly Token[]): string | undefined => {
  let best: string | undefined
  let bestScore = 0
  let second = 0
  for (const [language, words] of LANGUAGE_WORDS) {
    let score = 0
    for (const token of tokens) if (token.kind === 'word' && words.has(token.lower)) score++
    if (score > bestScore) [best, bestScore, second] = [language, score, bestScore]
    else if (score > second) second = score
  }
  return bestScore >= 2 && bestScore > second ? best : undefined
}

// ---------------------------------------------------------------------------------------------
// Rule: quoted spans and code

/** Opening quote → its closing quote. Straight quotes close themselves. */
const PAIRED_QUOTES: ReadonlyMap<string, string> = new Map([
  ['"', '"'],
  ['\u201c', '\u201d'],
  ['\u201e', '\u201c'],
  ['\u00ab', '\u00bb'],
  ['\u300c', '\u300d'],
  ['`', '`'],
])

const isWordChar = (c: string): boolean => isLetter(c) || isDigit(c)

/**
 * What the text quotes: fenced and inline code, double and typographic quotes, and single quotes
 * that open after a non-letter and close before one (so `don't` and `users' data` quote nothing).
 * Spans compare exactly, case and inner spacing included: they are the data the answer works on.
 * Each search that finds no closing quote is remembered, so the scan stays linear.
 */
const quotedSpans = (text: string): string[] => {
  const spans: string[] = []
  const unclosed = new Set<string>()
  let noSingleCloseBefore = -1
  let i = 0
  while (i < text.length) {
    const c = text.charAt(i)
    if (c === '`' && text.startsWith('```', i)) {
      const end = text.indexOf('```', i + 3)
      spans.push(text.slice(i + 3, end < 0 ? text.length : end).trim())
      i = end < 0 ? text.length : end + 3
      continue
    }
    const close = PAIRED_QUOTES.get(c)
    if (close !== undefined && !unclosed.has(c)) {
      const end = text.indexOf(close, i + 1)
      if (end < 0) unclosed.add(c)
      else {
        spans.push(text.slice(i + 1, end).trim())
        i = end + 1
        continue
      }
    }
    if ((c === "'" || c === '\u2018') && i > noSingleCloseBefore) {
      const before = text.charAt(i - 1)
      const after = text.charAt(i + 1)
      if (!isWordChar(before) && after !== '' && !SPACE.test(after)) {
        let j = i + 1
        let end = -1
        while (j < text.length && text.charAt(j) !== '\n') {
          const q = text.charAt(j)
          const next = text.charAt(j + 1)
          if (
            (q === "'" || q === '\u2019') &&
            !SPACE.test(text.charAt(j - 1)) &&
            !isWordChar(next)
          ) {
            end = j
            break
          }
          j++
        }
        if (end < 0) noSingleCloseBefore = j
        else {
          spans.push(text.slice(i + 1, end).trim())
          i = end + 1
          continue
        }
      }
    }
    i++
  }
  return spans.sort()
}

const CODE_CHARS = new Set(['_', '{', '}', '=', '<', '>', '\\', '|', '&', '@', '#', '$', '^', '`'])
const TRIM_START = new Set(['"', "'", '`', '\u201c', '\u201d', '\u2018', '\u2019', '\u00ab', '*'])
const TRIM_END = new Set([...TRIM_START, '\u00bb', '.', ',', ';', ':', '!', '?'])

const isMoney = (chunk: string): boolean => {
  for (const c of chunk) if (!isDigit(c) && !'$€£¥₹.,%'.includes(c)) return false
  return true
}

/** A chunk between spaces that reads as code: an identifier, a path, a flag, an operator. */
const isCodeLike = (chunk: string): boolean => {
  if (chunk === '' || isMoney(chunk)) return false
  if (chunk.startsWith('/') || chunk.includes('://') || chunk.includes('::')) return true
  if (chunk.startsWith('-') && isLetter(chunk.charAt(chunk.startsWith('--') ? 2 : 1))) return true
  let slashes = 0
  let dotted = false
  let camel = false
  for (let i = 0; i < chunk.length; i++) {
    const c = chunk.charAt(i)
    const prev = chunk.charAt(i - 1)
    if (CODE_CHARS.has(c)) return true
    if ((c === '(' || c === '[') && isWordChar(prev)) return true
    if (c === '/') slashes++
    if (c === '.' && isWordChar(prev) && isWordChar(chunk.charAt(i + 1))) dotted = true
    if (prev >= 'a' && prev <= 'z' && c >= 'A' && c <= 'Z') camel = true
  }
  if (slashes >= 2 || camel) return true
  // `os.path`, `config.yaml`, `Node.js`; not `3.5` or `e.g`.
  return dotted && chunk.split('.').some((part) => part.length > 1 && !isMoney(part))
}

/** Code-like chunks of the text, sorted and unique. */
const codeTokens = (text: string): string[] => {
  const found = new Set<string>()
  let start = -1
  for (let i = 0; i <= text.length; i++) {
    const c = text.charAt(i)
    const boundary = c === '' || SPACE.test(c)
    if (!boundary && start < 0) start = i
    if (boundary && start >= 0) {
      let from = start
      let to = i
      while (from < to && TRIM_START.has(text.charAt(from))) from++
      while (to > from && TRIM_END.has(text.charAt(to - 1))) to--
      const chunk = text.slice(from, to)
      if (isCodeLike(chunk)) found.add(chunk)
      start = -1
    }
  }
  return [...found].sort()
}

const onlyLetters = (text: string): boolean => {
  for (const c of text) if (!isLetter(c)) return false
  return true
}

/**
 * Code differs when a code-like chunk of one text is not in the other; chunks compare exactly, case
 * included (`Array.prototype.map` is not `array.prototype.map`). A chunk whose only sign of code is
 * its camel case (`JavaScript`, `useMemo`) also counts as present when the other text has it as a
 * plain word in any case, so "javascript" and "JavaScript" agree.
 */
const codeDiffers = (a: Analysis, b: Analysis): boolean => {
  const missing = (x: Analysis, y: Analysis): boolean => {
    const inY = new Set(y.code)
    return x.code.some((chunk) => {
      if (inY.has(chunk)) return false
      return !(onlyLetters(chunk) && y.words.has(chunk.toLowerCase()))
    })
  }
  return missing(a, b) || missing(b, a)
}

// ---------------------------------------------------------------------------------------------
// Rules: numbers, operators, units

const SMALL_NUMBERS: ReadonlyMap<string, number> = new Map(
  [
    'zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen',
    'fifteen sixteen seventeen eighteen nineteen',
  ]
    .join(' ')
    .split(' ')
    .map((word, value) => [word, value]),
)
const TENS: ReadonlyMap<string, number> = new Map(
  'twenty thirty forty fifty sixty seventy eighty ninety'
    .split(' ')
    .map((word, i) => [word, (i + 2) * 10]),
)
const SCALES: ReadonlyMap<string, number> = new Map([
  ['hundred', 100],
  ['hundreds', 100],
  ['thousand', 1e3],
  ['thousands', 1e3],
  ['million', 1e6],
  ['millions', 1e6],
  ['billion', 1e9],
  ['billions', 1e9],
  ['dozen', 12],
  ['dozens', 12],
])
const ORDINAL_WORDS: ReadonlyMap<string, number> = new Map(
  'first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth'
    .split(' ')
    .map((word, i) => [word, i + 1]),
)
const ORDINAL_SUFFIXES = new Set(['st', 'nd', 'rd', 'th'])

/**
 * A number as written in digits, in a canonical form: thousands separators dropped (`1,000`), a
 * decimal comma read as a point (`3,5`), leading zeros dropped (`007`). Trailing zeros are kept:
 * `3.10` and `3.1` are different versions.
 */
const canonicalDigits = (text: string): string => {
  const parts = text.split(',')
  const tail = parts.slice(1)
  const thousands = tail.length > 0 && tail.every((part) => part.split('.')[0]?.length === 3)
  let digits = thousands ? parts.join('') : parts.join('.')
  while (digits.length > 1 && digits.startsWith('0') && isDigit(digits.charAt(1))) {
    digits = digits.slice(1)
  }
  return digits
}

type NumberMention = {
  readonly value: string
  /**
   * Written as `one` or `second`, which are as often a pronoun or a unit of time as a number:
   * such a mention may be missing on the other side, but may not contradict a number there.
   */
  readonly soft: boolean
  readonly start: number
  readonly end: number
}

/** The number starting at `tokens[start]` (digits, words, or both: `1.5 million`). */
const readNumber = (tokens: readonly Token[], start: number): NumberMention | undefined => {
  type Last = 'none' | 'digits' | 'small' | 'tens' | 'hundred' | 'scale'
  let last: Last = 'none'
  let total = 0
  let current = 0
  let literal: string | undefined
  let end = start - 1
  for (let j = start; j < tokens.length; j++) {
    const token = tokens[j]
    if (token === undefined) break
    if (token.kind === 'number') {
      if (last !== 'none') break
      literal = canonicalDigits(token.text)
      current = Number(literal)
      last = 'digits'
      end = j
      continue
    }
    if (token.kind === 'symbol') {
      // `twenty-five`
      const next = tokens[j + 1]
      if (token.text === '-' && last === 'tens' && next?.attached && SMALL_NUMBERS.has(next.lower))
        continue
      break
    }
    const word = token.lower
    const small = SMALL_NUMBERS.get(word)
    const tens = TENS.get(word)
    const scale = SCALES.get(word)
    if (
      small !== undefined &&
      (last === 'none' || last === 'hundred' || last === 'scale' || (last === 'tens' && small < 10))
    ) {
      current += small
      last = 'small'
    } else if (tens !== undefined && (last === 'none' || last === 'hundred' || last === 'scale')) {
      current += tens
      last = 'tens'
    } else if (scale === 100 && last !== 'hundred' && last !== 'scale') {
      current = (last === 'none' ? 1 : current) * 100
      last = 'hundred'
    } else if (scale !== undefined && scale !== 100 && last !== 'scale') {
      total += (last === 'none' ? 1 : current) * scale
      current = 0
      last = 'scale'
    } else if (word === 'and' && (last === 'hundred' || last === 'scale')) {
      const next = tokens[j + 1]
      if (next !== undefined && (SMALL_NUMBERS.has(next.lower) || TENS.has(next.lower))) continue
      break
    } else break
    literal = undefined
    end = j
  }
  if (last === 'none') {
    const ordinal = ORDINAL_WORDS.get(tokens[start]?.lower ?? '')
    if (ordinal === undefined) return undefined
    return { value: `#${ordinal}`, soft: ordinal === 2, start, end: start }
  }
  let value = literal ?? String(total + current)
  const next = tokens[end + 1]
  if (last === 'digits' && next?.kind === 'word' && next.attached) {
    if (ORDINAL_SUFFIXES.has(next.lower)) {
      value = `#${value}`
      end++
    } else if (next.lower === 'k') {
      value = String(Number(value) * 1000)
      end++
    }
  }
  const sign = tokens[start - 1]
  const first = tokens[start]
  // A minus sign: after a space (or first), right before the digits: "-5", not "5 - 3" or "7-day".
  const minus = sign?.text === '-' || sign?.text === '\u2212'
  if (minus && !sign.attached && first?.kind === 'number' && first.attached) value = `-${value}`
  const soft = end === start && (first?.lower === 'one' || first?.lower === 'second')
  return { value, soft, start, end }
}

const readNumbers = (tokens: readonly Token[]): NumberMention[] => {
  const mentions: NumberMention[] = []
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]
    if (token === undefined || token.kind === 'symbol') continue
    const mention = readNumber(tokens, i)
    if (mention === undefined) continue
    mentions.push(mention)
    i = mention.end
  }
  return mentions
}

const pushTo = <K, V>(map: Map<K, V[]>, key: K, value: V): void => {
  const list = map.get(key)
  if (list === undefined) map.set(key, [value])
  else list.push(value)
}

const sameSequence = (a: readonly string[], b: readonly string[]): boolean =>
  a.length === b.length && a.every((x, i) => x === b[i])

/**
 * Numbers, in order (`7 > 3` is not `3 > 7`), as values (`2` and `two` agree). A soft `one` or
 * `second` may be absent on the other side ("which one is cheaper" / "which is cheaper").
 */
const numbersDiffer = (a: Analysis, b: Analysis): boolean => {
  const values = (mentions: readonly NumberMention[], dropSoft: boolean): string[] =>
    mentions.filter((m) => !(dropSoft && m.soft)).map((m) => m.value)
  return (
    !sameSequence(values(a.numbers, false), values(b.numbers, false)) &&
    !sameSequence(values(a.numbers, true), values(b.numbers, true))
  )
}

const ALWAYS_OPERATORS = new Set('< > = \u2264 \u2265 \u2260 \u00d7 \u00f7 ^'.split(' '))
const INFIX_OPERATORS: ReadonlyMap<string, string> = new Map([
  ['+', '+'],
  ['-', '-'],
  ['\u2212', '-'],
  ['*', '*'],
  ['/', '/'],
  ['x', '*'],
  ['plus', '+'],
  ['minus', '-'],
  ['times', '*'],
  ['multiplied', '*'],
  ['divided', '/'],
])

/**
 * Operators, in order: comparisons wherever they are, arithmetic between two numbers (words
 * included, `plus` reads as `+`), since "5 - 3" and "5 + 3" share every number.
 */
const readOperators = (tokens: readonly Token[], numbers: readonly NumberMention[]): string[] => {
  const starts = new Set(numbers.map((n) => n.start))
  const ends = new Set(numbers.map((n) => n.end))
  const found: string[] = []
  tokens.forEach((token, i) => {
    if (token.kind === 'symbol' && ALWAYS_OPERATORS.has(token.text)) {
      found.push(token.text)
      return
    }
    const operator = INFIX_OPERATORS.get(token.lower)
    if (operator === undefined) return
    const after = tokens[i + 1]?.lower === 'by' ? i + 2 : i + 1
    if (ends.has(i - 1) && starts.has(after)) found.push(operator)
  })
  return found
}

/** A unit's canonical id, and whether it only counts right after a number (`5 m`, not `m`). */
type UnitEntry = { readonly id: string; readonly afterNumberOnly: boolean }

/**
 * Entries `id:spelling spelling …`, separated by `;` or a new line. A spelling written `=m` counts
 * only right after a number, being too short or too common alone (`m`, `c`, `am`, `day`, `second`).
 */
const UNIT_TABLE = `
km:km kms kilometer kilometers kilometre kilometres; m:=m meter meters metre metres
cm:cm centimeter centimeters centimetre centimetres
mm:mm millimeter millimeters millimetre millimetres; mile:=mi mile miles; ft:ft foot feet
inch:inch inches; yard:=yd yard yards; celsius:celsius centigrade =c; fahrenheit:fahrenheit =f
kelvin:kelvin; degree:=degree =degrees; usd:usd dollar dollars bucks $; eur:eur euro euros €
gbp:gbp sterling £; pound:pound pounds; jpy:jpy yen ¥; inr:inr rupee rupees ₹; cny:cny yuan rmb
chf:chf; btc:btc bitcoin bitcoins; kg:kg kgs kilo kilos kilogram kilograms; g:=g gram grams
lb:lb lbs; oz:oz ounce ounces; ton:ton tons; tonne:tonne tonnes; l:=l liter liters litre litres
ml:ml milliliter milliliters millilitre millilitres; gallon:gallon gallons =gal; cup:cup cups
pint:pint pints; tbsp:tbsp tablespoon tablespoons; tsp:tsp teaspoon teaspoons
ms:ms millisecond milliseconds; s:=s =sec =secs =second seconds; min:=min =mins =minute minutes
h:=h =hr =hrs =hour hours; day:=day days; week:=week weeks; month:=month months
year:=year years =yr =yrs; am:=am; pm:=pm; b:byte bytes; bit:bit bits
kb:kb kib kilobyte kilobytes; mb:mb mib megabyte megabytes; gb:gb gib gigabyte gigabytes
tb:tb tib terabyte terabytes; mbps:mbps kbps gbps; mph:mph; kph:kph kmh; knot:knot knots
percent:percent pct %; px:px pixel pixels; pt:=pt; em:=em; rem:=rem; acre:acre acres
hectare:hectare hectares =ha; kwh:kwh; calorie:calorie calories kcal cal; watt:watt watts =w`
  .split(/[;\n]/)
  .map((entry) => entry.trim())
  .filter((entry) => entry !== '')

const UNITS: ReadonlyMap<string, UnitEntry> = new Map(
  UNIT_TABLE.flatMap((line) => {
    const [id = '', spellings = ''] = line.split(':')
    return spellings.split(' ').map((spelling): [string, UnitEntry] => {
      const afterNumberOnly = spelling.startsWith('=')
      return [afterNumberOnly ? spelling.slice(1) : spelling, { id, afterNumberOnly }]
    })
  }),
)
const CURRENCY_SYMBOLS = new Set(['$', '€', '£', '¥', '₹'])

/**
 * Quantities (`5 km`, `$5`, `30 °C`, `7 pm`, each number with its unit) as a sorted list, and the
 * units named without a number, in order ("km to miles" is not "miles to km").
 */
const readUnits = (
  tokens: readonly Token[],
  numbers: readonly NumberMention[],
): { quantities: string[]; units: string[] } => {
  const bound = new Set<number>()
  const quantities: string[] = []
  for (const number of numbers) {
    let k = number.end + 1
    let next = tokens[k]
    // `5-day`
    if (next?.text === '-' && next.attached && tokens[k + 1]?.attached) next = tokens[++k]
    let unit: string | undefined
    if (next?.text === '°') {
      const scale = tokens[k + 1]
      const named = scale?.attached ? UNITS.get(scale.lower) : undefined
      unit = named !== undefined && named.id !== 'degree' ? named.id : 'degree'
      bound.add(k)
      if (unit !== 'degree') bound.add(k + 1)
    } else if (next !== undefined && next.kind !== 'number') {
      unit = UNITS.get(next.lower)?.id
      if (unit !== undefined) bound.add(k)
    }
    const before = tokens[number.start - 1]
    if (unit === undefined && before !== undefined && CURRENCY_SYMBOLS.has(before.text)) {
      unit = UNITS.get(before.text)?.id
      bound.add(number.start - 1)
    }
    if (unit !== undefined) quantities.push(`${number.value} ${unit}`)
  }
  const units: string[] = []
  tokens.forEach((token, i) => {
    const entry = UNITS.get(token.lower)
    if (entry === undefined || entry.afterNumberOnly || bound.has(i)) return
    if (units[units.length - 1] !== entry.id) units.push(entry.id)
  })
  return { quantities: quantities.sort(), units }
}

// ---------------------------------------------------------------------------------------------
// Rule: negation

/**
 * Negation markers. English first; then the commonest negators of French, Spanish, Italian,
 * Portuguese, German and Dutch, so a negated paraphrase in those languages is caught too.
 */
const NEGATIONS = wordSet(
  'not no never without none nothing nobody nowhere neither nor cannot non unable',
  'dont doesnt didnt isnt arent wasnt werent cant couldnt shouldnt wouldnt wont hasnt havent',
  'hadnt mustnt neednt',
  'pas jamais sans rien nunca sin jamás nada não nao sem nicht kein keine keinen keiner nie',
  'niemals ohne niet geen nooit zonder',
)
const isNegation = (word: string): boolean => NEGATIONS.has(word) || word.endsWith("n't")

/** Words skipped when looking for what a negation applies to. */
const SCOPE_SKIP = wordSet(
  'a an the to be been being am is are was were do does did have has had any ever even really',
  'very just quite so too at all able going i you we they it he she my your our their its this',
  'that these those',
)

/** `removing` and `removes` → `remove` when `known` has it; else `undefined`. */
const inflectedFrom = (word: string, known: (w: string) => boolean): string | undefined => {
  if (known(word)) return word
  const stems: string[] = []
  const strip = (suffix: string, ...endings: string[]): void => {
    if (!word.endsWith(suffix) || word.length - suffix.length < 2) return
    const stem = word.slice(0, -suffix.length)
    for (const ending of endings) stems.push(stem + ending)
    // `stopped`, `running`: the doubled consonant
    if (stem.length > 2 && stem.charAt(stem.length - 1) === stem.charAt(stem.length - 2))
      stems.push(stem.slice(0, -1))
  }
  strip('ies', 'y')
  strip('ied', 'y')
  strip('es', '')
  strip('s', '')
  strip('ed', '', 'e')
  strip('ing', '', 'e')
  return stems.find(known)
}

const stemmed = (word: string): string => {
  for (const suffix of ['ing', 'ed', 'es', 's']) {
    if (word.endsWith(suffix) && word.length - suffix.length >= 3)
      return word.slice(0, -suffix.length)
  }
  return word
}

/**
 * For each negation, the words it can apply to: up to three words among the eight tokens after it,
 * skipping auxiliaries, articles and pronouns, up to the next punctuation. "Don't have any sugar"
 * and "no sugar" both cover `sugar`; "why don't my tests run" and "why do my tests not run" both
 * cover `run`.
 */
const negationScopes = (tokens: readonly Token[]): string[][] => {
  const scopes: string[][] = []
  tokens.forEach((token, i) => {
    if (token.kind !== 'word' || !isNegation(token.lower)) return
    const scope: string[] = []
    // At most eight tokens ahead: "no no no …" must not make this quadratic.
    for (let j = i + 1; j < tokens.length && j <= i + 8 && scope.length < 3; j++) {
      const next = tokens[j]
      if (next === undefined || next.kind === 'symbol') break
      if (SCOPE_SKIP.has(next.lower) || isNegation(next.lower)) continue
      scope.push(stemmed(next.lower))
    }
    scopes.push(scope)
  })
  return scopes
}

/**
 * Negations differ when their counts differ, or when a negation of one text covers none of the
 * words a negation of the other covers: "don't restart the server, delete the cache" is not
 * "restart the server, don't delete the cache", though each negates once.
 */
const negationDiffers = (a: Analysis, b: Analysis): boolean => {
  if (a.negations.length !== b.negations.length) return true
  // Greedy matching through a word index, so each negation of b is looked at a bounded number of
  // times: linear however many negations a text has.
  const byWord = new Map<string, number[]>()
  let bareInB = 0
  b.negations.forEach((scope, k) => {
    if (scope.length === 0) bareInB++
    for (const word of scope) pushTo(byWord, word, k)
  })
  const used = new Set<number>()
  const take = (word: string): boolean => {
    const candidates = byWord.get(word) ?? []
    for (let k = candidates.pop(); k !== undefined; k = candidates.pop()) {
      if (used.has(k)) continue
      used.add(k)
      return true
    }
    return false
  }
  for (const scope of a.negations) {
    if (scope.length === 0) {
      if (bareInB === 0) return true
      bareInB--
    } else if (!scope.some(take)) return true
  }
  return false
}

// ---------------------------------------------------------------------------------------------
// Rule: opposites, comparatives and superlatives, times and orderings

/**
 * Groups of mutually exclusive values, separated by `;` or a new line: values separated by `/`,
 * synonyms of a value by spaces. Two texts contradict when, in one group, each names a value the
 * other does not ("turn on" / "turn off"; "largest" / "smallest"; "Monday" / "Sunday"). Naming a
 * value on one side only is not enough: "click on the button" and "click the button" agree.
 * Inflections are found by {@link inflectedFrom}; irregular ones are listed.
 */
const OPPOSITES = `
on/off; enable enabled activate/disable disabled deactivate
add insert create append/remove delete drop erase destroy
allow permit grant/deny forbid prohibit block ban
increase raise increment grow boost/decrease reduce decrement shrink lower; before prior/after
true/false; yes/no; open/close shut
start begin began begun launch beginning/stop end finish halt ending
show shown display reveal/hide hidden; include/exclude; accept approve/reject decline
encrypt encryption/decrypt decryption; encode encoding/decode decoding; import/export
upload/download; push/pull; send sent/receive; request/response; input/output
read/write wrote written; buy bought purchase/sell sold; borrow/lend lent; win won/lose lost
love/hate; up/down; in/out; login/logout; online/offline; inside/outside; inner/outer
above/below; over/under; left/right; top/bottom; front/back; north northern/south southern
east eastern/west western; upper uppercase/lower lowercase; horizontal/vertical; row/column
ascending asc/descending desc; positive/negative; plus/minus
add sum/subtract/multiply product/divide quotient; public/private; internal/external
sync synchronous synchronously/async asynchronous asynchronously; client/server
frontend/backend; expand/collapse; attach/detach
max maximum maximise maximize maximal/min minimum minimise minimize minimal
more greater/less fewer; most/least fewest; good/better/best/bad/worse/worst
big large huge/bigger larger/biggest largest/small little tiny/smaller/smallest
high/higher/highest/low/lower/lowest
fast quick/faster quicker/fastest quickest/slow/slower/slowest
cheap inexpensive cheaper cheapest/expensive costly pricey
long/longer/longest/short/shorter/shortest; heavy/heavier/heaviest/light/lighter/lightest
strong/stronger/strongest/weak/weaker/weakest
easy simple/easier simpler/easiest simplest/hard difficult/harder/hardest
close near/closer nearer/closest nearest/far/farther further/farthest furthest
new/newer/newest latest/old/older/oldest; young/younger/youngest/old/older/oldest
early/earlier/earliest/late/later/latest; hot/warm/cool/cold; light/dark; wet/dry; full/empty
rich/poor; happy/sad; success succeed successful/failure fail; pass/fail; right correct/wrong
profit gain/loss; credit/debit; deposit/withdraw withdrawal
pros advantage benefit/cons disadvantage drawback; arrive arrival/depart departure
enter entrance entry/exit; join/leave; inbound incoming/outbound outgoing; male/female
man men/woman women; boy/girl; he him his himself/she her hers herself
father dad/mother mom mum; husband/wife; son/daughter; brother/sister; king/queen
always/never/sometimes/often frequently/rarely seldom/usually
all every everything everyone/none nothing nobody/some; many much/few; odd/even
singular/plural; first/last final; next following upcoming/previous preceding last
yesterday/today/tonight/tomorrow; morning/afternoon/evening/night; past/present/future
since/until till; monday/tuesday/wednesday/thursday/friday/saturday/sunday
january/february/march/april/may/june/july/august/september/october/november/december
spring/summer/autumn fall/winter
red/green/blue/yellow/orange/purple/pink/brown/black/white/grey gray
english/french/spanish/german/italian/portuguese/dutch/russian/chinese/japanese/korean/arabic
python/javascript/typescript/java/rust/go golang/ruby/php/kotlin/swift/scala/haskell/perl
mac macos/windows/linux/android/ios; weekly/monthly/yearly annual annually/daily`
  .split(/[;\n]/)
  .map((group) => group.trim())
  .filter((group) => group !== '')

type GroupValue = readonly [group: number, value: number]

const OPPOSITE_INDEX: ReadonlyMap<string, readonly GroupValue[]> = (() => {
  const index = new Map<string, GroupValue[]>()
  OPPOSITES.forEach((line, group) => {
    line.split('/').forEach((synonyms, value) => {
      for (const word of synonyms.split(' ')) {
        const entries = index.get(word) ?? []
        entries.push([group, value])
        index.set(word, entries)
      }
    })
  })
  return index
})()

const readOpposites = (words: Iterable<string>): Map<number, Set<number>> => {
  const groups = new Map<number, Set<number>>()
  for (const word of words) {
    const known = inflectedFrom(word, (w) => OPPOSITE_INDEX.has(w))
    for (const [group, value] of OPPOSITE_INDEX.get(known ?? '') ?? []) {
      const values = groups.get(group) ?? new Set<number>()
      values.add(value)
      groups.set(group, values)
    }
  }
  return groups
}

const oppositeDiffers = (a: Analysis, b: Analysis): boolean => {
  for (const [group, inA] of a.opposites) {
    const inB = b.opposites.get(group)
    if (inB === undefined) continue
    const onlyA = [...inA].some((value) => !inB.has(value))
    const onlyB = [...inB].some((value) => !inA.has(value))
    if (onlyA && onlyB) return true
  }
  return false
}

/**
 * Words that negate by prefix: "uninstall" against "install", "invalid" against "valid",
 * "deactivate" against "activate". Fires only when the bare word is on the other side and the
 * prefixed one is not, and the bare word has at least three letters (so "unit" is not "it").
 */
const NEGATING_PREFIXES = ['un', 'dis', 'non', 'in', 'im', 'il', 'ir', 'de', 'mis', 'anti']

const prefixOpposite = (a: Analysis, b: Analysis): boolean => {
  const oneWay = (x: Analysis, y: Analysis): boolean => {
    for (const word of x.words) {
      if (y.words.has(word)) continue
      for (const prefix of NEGATING_PREFIXES) {
        if (!word.startsWith(prefix)) continue
        const bare = word.slice(prefix.length)
        if (bare.length >= 3 && y.words.has(bare) && !x.words.has(bare)) return true
      }
    }
    return false
  }
  return oneWay(a, b) || oneWay(b, a)
}

// ---------------------------------------------------------------------------------------------
// Rules: entities and order

/**
 * Names: capitalised words that do not start a sentence (France, Spain, Hamlet), and all-capital
 * words (AWS, EUR), minus function words and `I`, in order of first appearance. Written as
 * capitals without being names (Title Case, shouting) they still agree with the same words in
 * lower case, since `entity` only asks that a name of one text appears in the other in any case.
 */
const readEntities = (tokens: readonly Token[]): string[] => {
  const seen = new Set<string>()
  for (const token of tokens) {
    if (token.kind !== 'word' || token.sentenceStart) continue
    const first = token.text.charAt(0)
    const capital = first !== first.toLowerCase() && first === first.toUpperCase()
    if (!capital || FUNCTION_WORDS.has(token.lower) || token.lower.startsWith("i'")) continue
    seen.add(token.lower)
  }
  return [...seen]
}

const entityMissing = (a: Analysis, b: Analysis): boolean =>
  a.entities.some((name) => !b.words.has(name)) || b.entities.some((name) => !a.words.has(name))

/** Names both texts write as names, in each text's order: "Alice … Bob" is not "Bob … Alice". */
const entityOrderDiffers = (a: Analysis, b: Analysis): boolean => {
  const inB = new Set(b.entities)
  const sharedA = a.entities.filter((name) => inB.has(name))
  const shared = new Set(sharedA)
  return !sameSequence(
    sharedA,
    b.entities.filter((name) => shared.has(name)),
  )
}

/** Words that make a relation directional: what stands before them and after is not symmetric. */
const CONNECTORS = new Set(['to', 'into', 'onto', 'from', 'than', 'toward', 'towards'])

/**
 * Same words, swapped roles. Two checks, both on content words (function words and negations
 * left out):
 * - two words trade places with something between them ("the dog chases the cat" / "the cat
 *   chases the dog"), while adjacent swaps ("flu symptoms" / "symptoms of the flu") and moved
 *   phrases ("in Python, how …" / "how … in Python") pass;
 * - around a directional word used once in each text, a word moves from before it to after it and
 *   another the other way ("convert a string to an int" / "convert an int to a string", "merge
 *   main into the branch" / "merge the branch into main").
 */
const orderDiffers = (a: Analysis, b: Analysis): boolean => {
  const ca = a.content.map((c) => c.word)
  const cb = b.content.map((c) => c.word)
  if (ca.length === cb.length) {
    const diff: number[] = []
    for (let i = 0; i < ca.length && diff.length <= 2; i++) if (ca[i] !== cb[i]) diff.push(i)
    const [i = 0, j = 0] = diff
    if (diff.length === 2 && j - i >= 2 && ca[i] === cb[j] && ca[j] === cb[i]) return true
  }
  for (const connector of CONNECTORS) {
    const at = a.connectors.get(connector)
    const bt = b.connectors.get(connector)
    if (at?.length !== 1 || bt?.length !== 1) continue
    const [pa = 0] = at
    const [pb = 0] = bt
    const side = (content: Analysis['content'], pivot: number, before: boolean): Set<string> =>
      new Set(content.filter((c) => c.at < pivot === before).map((c) => c.word))
    const beforeA = side(a.content, pa, true)
    const afterA = side(a.content, pa, false)
    const beforeB = side(b.content, pb, true)
    const afterB = side(b.content, pb, false)
    const crossesForward = [...beforeA].some((w) => afterB.has(w) && !beforeB.has(w))
    const crossesBack = [...afterA].some((w) => beforeB.has(w) && !afterB.has(w))
    if (crossesForward && crossesBack) return true
  }
  return false
}

// ---------------------------------------------------------------------------------------------
// Analysis and the rule table

type Analysis = {
  readonly script: Script | undefined
  readonly language: string | undefined
  readonly quoted: readonly string[]
  readonly code: readonly string[]
  readonly numbers: readonly NumberMention[]
  readonly operators: readonly string[]
  readonly quantities: readonly string[]
  readonly units: readonly string[]
  readonly negations: readonly (readonly string[])[]
  readonly opposites: ReadonlyMap<number, ReadonlySet<number>>
  /** Every word, lower case. */
  readonly words: ReadonlySet<string>
  readonly entities: readonly string[]
  /** Content words in order, with their token index. */
  readonly content: readonly { readonly word: string; readonly at: number }[]
  readonly connectors: ReadonlyMap<string, readonly number[]>
}

const analyse = (raw: string): Analysis => {
  const text = raw.normalize('NFKC')
  const tokens = tokenize(text)
  const numbers = readNumbers(tokens)
  const words = new Set<string>()
  const content: { word: string; at: number }[] = []
  const connectors = new Map<string, number[]>()
  tokens.forEach((token, at) => {
    if (token.kind !== 'word') return
    words.add(token.lower)
    if (CONNECTORS.has(token.lower)) pushTo(connectors, token.lower, at)
    if (!FUNCTION_WORDS.has(token.lower) && !isNegation(token.lower))
      content.push({ word: token.lower, at })
  })
  const { quantities, units } = readUnits(tokens, numbers)
  return {
    script: dominantScript(tokens),
    language: languageOf(tokens),
    quoted: quotedSpans(text),
    code: codeTokens(text),
    numbers,
    operators: readOperators(tokens, numbers),
    quantities,
    units,
    negations: negationScopes(tokens),
    opposites: readOpposites(words),
    words,
    entities: readEntities(tokens),
    content,
    connectors,
  }
}

const bothDefinedAndDifferent = <T>(a: T | undefined, b: T | undefined): boolean =>
  a !== undefined && b !== undefined && a !== b

/**
 * The rules, cheapest and most certain first. Each returns `true` when the two texts must not
 * share an answer.
 */
const RULES: readonly (readonly [GuardRule, (a: Analysis, b: Analysis) => boolean])[] = [
  // Another script is another language: the answer would be in the wrong language.
  ['script', (a, b) => bothDefinedAndDifferent(a.script, b.script)],
  // A French and an English phrasing of one question expect answers in their own language.
  ['language', (a, b) => a.script === 'latin' && bothDefinedAndDifferent(a.language, b.language)],
  // Quoted text is data the answer works on (translate 'x', count the vowels in "y"): exact.
  ['quoted', (a, b) => !sameSequence(a.quoted, b.quoted)],
  // Numbers change answers and barely move an embedding (17 × 23 vs 17 × 24).
  ['number', numbersDiffer],
  ['operator', (a, b) => !sameSequence(a.operators, b.operators)],
  // Identifiers, paths, flags: `useMemo` and `useCallback` embed alike and answer differently.
  ['code', codeDiffers],
  // 5 km is not 5 miles; "in Celsius" is not "in Fahrenheit".
  ['unit', (a, b) => !sameSequence(a.quantities, b.quantities) || !sameSequence(a.units, b.units)],
  // The failure in the wild (semantic-router#2691, GPTCache #694): one "not" flips the answer.
  ['negation', negationDiffers],
  ['opposite', oppositeDiffers],
  ['antonym-prefix', prefixOpposite],
  // France and Spain are neighbours in every embedding space.
  ['entity', entityMissing],
  ['entity-order', entityOrderDiffers],
  ['order', orderDiffers],
]
