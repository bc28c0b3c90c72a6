import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  PII_KINDS,
  scrubIdentifier,
  scrubJson,
  scrubText,
  type PiiKind,
  type ScrubStats,
} from './pii'

const RUNS = { numRuns: 500 }

const stats = (): ScrubStats => ({ examined: 0, attempts: 0, redactions: 0 })
const marker = (kind: PiiKind): string => `[REDACTED:${kind}]`

// ---------------------------------------------------------------------------------------------
// Reference implementations, written independently of the scanner

/** The digit that makes `payload` + digit Luhn-valid. */
const luhnCheckDigit = (payload: readonly number[]): number => {
  let sum = 0
  for (let k = 0; k < payload.length; k++) {
    const d = payload[payload.length - 1 - k] ?? 0
    const doubled = k % 2 === 0 ? d * 2 : d // the check digit will shift every position by one
    sum += doubled > 9 ? doubled - 9 : doubled
  }
  return (10 - (sum % 10)) % 10
}

const cpfDigits = (base: readonly number[]): number[] => {
  const check = (digits: readonly number[]): number => {
    const weight = digits.length + 1
    const sum = digits.reduce((acc, d, k) => acc + d * (weight - k), 0)
    const rest = sum % 11
    return rest < 2 ? 0 : 11 - rest
  }
  const first = check(base)
  return [...base, first, check([...base, first])]
}

const formatCpf = (d: readonly number[]): string => {
  const s = d.join('')
  return `${s.slice(0, 3)}.${s.slice(3, 6)}.${s.slice(6, 9)}-${s.slice(9)}`
}

// ---------------------------------------------------------------------------------------------
// Arbitraries: one per kind, each yielding the text to embed and the secret it must hide

type Secret = { kind: PiiKind; text: string; secret: string }

const chars = (alphabet: string): fc.Arbitrary<string> => fc.constantFrom(...alphabet.split(''))
const str = (alphabet: string, minLength: number, maxLength: number): fc.Arbitrary<string> =>
  fc.string({ unit: chars(alphabet), minLength, maxLength })
const digitString = (length: number): fc.Arbitrary<string> => str('0123456789', length, length)
const LOWER = 'abcdefghijklmnopqrstuvwxyz'
const UPPER = LOWER.toUpperCase()
const DIGITS = '0123456789'
const KEY_TAIL = `${LOWER}${UPPER}${DIGITS}_-`

const emailArb: fc.Arbitrary<Secret> = fc
  .tuple(
    chars(`${LOWER}${DIGITS}`),
    str(`${LOWER}${DIGITS}._%+-`, 0, 16),
    fc.array(str(`${LOWER}${DIGITS}`, 1, 10), { minLength: 1, maxLength: 3 }),
    str(LOWER, 2, 6),
  )
  .map(([first, rest, labels, tld]) => {
    const text = `${first}${rest}@${[...labels, tld].join('.')}`
    return { kind: 'email', text, secret: text }
  })

/** Issuer prefixes and lengths of real networks, with the groupings they are printed in. */
const CARD_SHAPES: readonly [prefix: string, length: number, grouping: readonly number[] | null][] =
  [
    ['4', 16, [4, 4, 4, 4]], // Visa
    ['4', 13, [4, 4, 5]],
    ['4', 13, [4, 3, 3, 3]],
    ['4', 19, [4, 4, 4, 4, 3]],
    ['51', 16, [4, 4, 4, 4]], // Mastercard
    ['2221', 16, [4, 4, 4, 4]],
    ['34', 15, [4, 6, 5]], // Amex
    ['37', 15, [4, 6, 5]],
    ['36', 14, [4, 6, 4]], // Diners
    ['6011', 16, [4, 4, 4, 4]], // Discover
    ['35', 16, [4, 4, 4, 4]], // JCB
    ['62', 17, null], // UnionPay, printed bare
    ['62', 18, null],
  ]

const cardArb: fc.Arbitrary<Secret> = fc
  .constantFrom(...CARD_SHAPES)
  .chain(([prefix, length, grouping]) =>
    fc.tuple(
      fc.constant(prefix),
      digitString(length - prefix.length - 1),
      fc.constantFrom<readonly number[] | null>(null, grouping),
      fc.constantFrom(' ', '-'),
    ),
  )
  .map(([prefix, body, grouping, sep]) => {
    const payload = `${prefix}${body}`.split('').map(Number)
    const digits = `${payload.join('')}${luhnCheckDigit(payload)}`
    let text = digits
    if (grouping) {
      let at = 0
      text = grouping.map((g) => digits.slice(at, (at += g))).join(sep)
    }
    return { kind: 'credit_card', text, secret: text }
  })

const cpfArb: fc.Arbitrary<Secret> = fc
  .tuple(fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 9, maxLength: 9 }), fc.boolean())
  .filter(([base]) => new Set(base).size > 1)
  .map(([base, formatted]) => {
    const digits = cpfDigits(base)
    const text = formatted ? formatCpf(digits) : digits.join('')
    return { kind: 'cpf', text, secret: text }
  })

const ssnArb: fc.Arbitrary<Secret> = fc
  .tuple(
    fc.integer({ min: 1, max: 899 }).filter((area) => area !== 666),
    fc.integer({ min: 1, max: 99 }),
    fc.integer({ min: 1, max: 9999 }),
  )
  .map(([area, group, serial]) => {
    const text = `${String(area).padStart(3, '0')}-${String(group).padStart(2, '0')}-${String(serial).padStart(4, '0')}`
    return { kind: 'ssn', text, secret: text }
  })

const nanpParts = fc.tuple(digitString(3), digitString(3), digitString(4))
const phoneArb: fc.Arbitrary<Secret> = fc
  .oneof(
    // E.164: + country code and subscriber number, 8–15 digits in all
    fc
      .tuple(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 8, max: 15 }))
      .chain(([lead, total]) => digitString(total - 1).map((rest) => `+${lead}${rest}`)),
    nanpParts.map(([a, b, c]) => `+1 (${a}) ${b}-${c}`),
    nanpParts.map(([a, b, c]) => `+1-${a}-${b}-${c}`),
    fc
      .tuple(digitString(2), digitString(4), digitString(4))
      .map(([a, b, c]) => `+44 ${a} ${b} ${c}`),
    fc
      .tuple(digitString(2), digitString(5), digitString(4))
      .map(([a, b, c]) => `+55 ${a} ${b}-${c}`),
    nanpParts.map(([a, b, c]) => `(${a}) ${b}-${c}`),
    nanpParts.map(([a, b, c]) => `${a}-${b}-${c}`),
    nanpParts.map(([a, b, c]) => `${a}.${b}.${c}`),
    nanpParts.map(([a, b, c]) => `${a} ${b} ${c}`),
    nanpParts.map(([a, b, c]) => `1-${a}-${b}-${c}`),
    fc.tuple(digitString(2), digitString(5), digitString(4)).map(([a, b, c]) => `(${a}) ${b}-${c}`),
  )
  .map((text) => ({ kind: 'phone', text, secret: text }))

/** `[prefix, tail alphabet, tail min, tail max]` for every vendor the scrubber knows. */
const KEY_SHAPES: readonly [string, string, number, number][] = [
  ['sk-', KEY_TAIL, 20, 64],
  ['sk-proj-', KEY_TAIL, 20, 64],
  ['sk-ant-api03-', KEY_TAIL, 20, 64],
  ['flo_sk_live_', `${LOWER}${UPPER}${DIGITS}`, 32, 32],
  ['flo_sk_test_', `${LOWER}${UPPER}${DIGITS}`, 32, 32],
  ['AIza', KEY_TAIL, 35, 35],
  ['gsk_', KEY_TAIL, 16, 52],
  ['ghp_', `${LOWER}${UPPER}${DIGITS}`, 36, 36],
  ['github_pat_', KEY_TAIL, 22, 82],
  ['AKIA', `${UPPER}${DIGITS}`, 16, 16],
  ['xoxb-', `${LOWER}${DIGITS}-`, 16, 48],
  ['xoxp-', `${LOWER}${DIGITS}-`, 16, 48],
  ['sk_live_', `${LOWER}${UPPER}${DIGITS}`, 24, 99],
  ['rk_live_', `${LOWER}${UPPER}${DIGITS}`, 24, 99],
]

const keyArb: fc.Arbitrary<Secret> = fc
  .constantFrom(...KEY_SHAPES)
  .chain(([prefix, alphabet, min, max]) =>
    str(alphabet, min, max).map((tail) => `${prefix}${tail}`),
  )
  .map((text) => ({ kind: 'api_key', text, secret: text }))

const TOKEN68 = `${KEY_TAIL}.~+/`
const bearerArb: fc.Arbitrary<Secret> = fc
  .tuple(
    fc.constantFrom('Bearer', 'bearer', 'BEARER'),
    fc.oneof(
      // opaque: token68 characters with at least one digit, optional base64 padding
      fc
        .tuple(str(TOKEN68, 7, 60), chars(DIGITS), fc.nat(), fc.constantFrom('', '=', '=='))
        .map(([t, d, at, pad]) => {
          const cut = at % (t.length + 1)
          return `${t.slice(0, cut)}${d}${t.slice(cut)}${pad}`
        }),
      // JWT: three base64url segments
      fc
        .tuple(str(KEY_TAIL, 4, 40), str(KEY_TAIL, 4, 80), str(KEY_TAIL, 4, 43))
        .map(([h, p, s]) => `eyJ${h}.eyJ${p}.${s}`),
    ),
  )
  .map(([word, token]) => ({ kind: 'bearer', text: `${word} ${token}`, secret: token }))

const SECRET_ARBS: Record<PiiKind, fc.Arbitrary<Secret>> = {
  bearer: bearerArb,
  api_key: keyArb,
  email: emailArb,
  credit_card: cardArb,
  cpf: cpfArb,
  ssn: ssnArb,
  phone: phoneArb,
}
const anySecret = fc.oneof(...PII_KINDS.map((kind) => SECRET_ARBS[kind]))

// ---------------------------------------------------------------------------------------------
// Ordinary text

const WORDS = [
  'the', 'model', 'returned', 'a', 'short', 'answer', 'please', 'summarise', 'this', 'request',
  'Order', 'shipped', 'version', 'release', 'on', 'at', 'price', 'total', 'user', 'Hello',
  'instruments', 'tokens', 'sk', 'key', 'phone', 'card', 'email', 'address', 'Café', 'naïve',
] // prettier-ignore

/** Punctuation between a secret and its neighbours: never glue (`-`, `.`, `_`) nor email text. */
const SEPARATORS = [' ', ', ', '; ', ': ', '\n', '\t', ' (', ') ', '"', "'", '<', '>', '. ',
  '! ', '? ', ' | ', '[', ']', '{', '}', '=', '/'] // prettier-ignore

const word = fc.constantFrom(...WORDS)
const sentence = fc.array(word, { minLength: 0, maxLength: 8 }).map((words) => words.join(' '))

const pad2 = (n: number): string => String(n).padStart(2, '0')
const hex = str('0123456789abcdef', 64, 64)

/** Not PII, though digit-rich: the near misses a request log is full of. */
const ordinaryToken = fc.oneof(
  word,
  fc.integer({ min: 0, max: 9_999_999 }).map(String), // fewer digits than any kind needs
  fc.nat().map(String), // Unix timestamps: 10 bare digits
  fc.integer({ min: 1e12, max: 1.9e12 }).map(String), // millisecond timestamps, MII 1
  fc
    .tuple(
      fc.integer({ min: 1970, max: 2100 }),
      fc.integer({ min: 1, max: 12 }),
      fc.integer({ min: 1, max: 28 }),
    )
    .map(([y, m, d]) => `${y}-${pad2(m)}-${pad2(d)}`),
  fc
    .tuple(
      fc.integer({ min: 0, max: 23 }),
      fc.integer({ min: 0, max: 59 }),
      fc.integer({ min: 0, max: 59 }),
    )
    .map(([h, m, s]) => `${pad2(h)}:${pad2(m)}:${pad2(s)}`),
  fc
    .date({ min: new Date('1970-01-01'), max: new Date('2100-01-01'), noInvalidDate: true })
    .map((d) => d.toISOString()),
  fc.array(fc.nat({ max: 999 }), { minLength: 2, maxLength: 4 }).map((v) => `v${v.join('.')}`),
  fc.array(fc.nat({ max: 99 }), { minLength: 4, maxLength: 4 }).map((v) => v.join('.')),
  fc.uuid(),
  hex,
  fc.ipV4(),
  fc
    .tuple(fc.nat({ max: 999_999 }), fc.nat({ max: 99 }))
    .map(([a, c]) => `$${a.toLocaleString('en-US')}.${pad2(c)}`),
  fc.nat({ max: 9_999_999_999 }).map((n) => `ORD-${n}`),
  fc.nat({ max: 999_999 }).map((n) => `#${n}`),
  fc.tuple(fc.nat(), fc.nat({ max: 99_999 })).map(([a, b]) => `${a}.${b}`),
)

/** Words between tokens, so no two numbers sit a space apart (space-grouped digits are ambiguous). */
const ordinaryText = fc
  .array(fc.tuple(ordinaryToken, word, fc.constantFrom(' ', ', ', '. ', '\n', '; ')), {
    maxLength: 12,
  })
  .map((parts) => parts.map(([token, w, sep]) => `${token} ${w}${sep}`).join(''))

// ---------------------------------------------------------------------------------------------

describe('scrubText examples', () => {
  it.each<[string, string]>([
    ['mail john.doe+tag@example.co.uk now', `mail ${marker('email')} now`],
    ['<a_b%c@sub.mail-host.io>', `<${marker('email')}>`],
    ['Contact: ANA@EXEMPLO.COM.BR.', `Contact: ${marker('email')}.`],
    ['cpf 123.456.789-09', `cpf ${marker('cpf')}`],
    ['cpf 12345678909!', `cpf ${marker('cpf')}!`],
    ['ssn 123-45-6789', `ssn ${marker('ssn')}`],
    ['ssn 899-99-0001', `ssn ${marker('ssn')}`],
    ['visa 4111 1111 1111 1111', `visa ${marker('credit_card')}`],
    ['visa 4111-1111-1111-1111', `visa ${marker('credit_card')}`],
    ['visa 4111111111111111', `visa ${marker('credit_card')}`],
    ['amex 3782 822463 10005', `amex ${marker('credit_card')}`],
    ['diners 3056 930902 5904', `diners ${marker('credit_card')}`],
    ['mc 5555555555554444.', `mc ${marker('credit_card')}.`],
    ['19 digits 4000 0000 0000 0000 006', `19 digits ${marker('credit_card')}`],
    ['exp 4111 1111 1111 1111 12/27', `exp ${marker('credit_card')} 12/27`],
    ['+5511987654321', marker('phone')],
    ['tel:+1 (415) 555-2671;', `tel:${marker('phone')};`],
    ['+44 20 7946 0958 (mobile)', `${marker('phone')} (mobile)`],
    ['+55 11 98765-4321', marker('phone')],
    ['+5511987654321(mobile)', `${marker('phone')}(mobile)`],
    ['(415) 555-2671', marker('phone')],
    ['(11) 98765-4321', marker('phone')],
    ['415-555-2671', marker('phone')],
    ['415.555.2671', marker('phone')],
    ['1-415-555-2671', marker('phone')],
    ['key=sk-proj-Ab3dEfGhIjKlMnOpQrStUv', `key=${marker('api_key')}`],
    ['sk-ant-api03-abcdefghijklmnop_QR-stu', marker('api_key')],
    ['flo_sk_live_SzD0WD5EDV3IPEgWAnLtpGd7GaYOJTpe_27614338', marker('api_key')],
    ['"AIzaSyA-1234567890abcdefghijklmnopqrstu"', `"${marker('api_key')}"`],
    ['gsk_abcdefghijklmnop1234', marker('api_key')],
    ['ghp_abcdefghijklmnopqrstuvwxyz0123456789', marker('api_key')],
    ['github_pat_11ABCDEFG0123456789_abcdefg', marker('api_key')],
    ['AKIAIOSFODNN7EXAMPLE', marker('api_key')],
    ['xoxb-123456789012-abcdefghijkl', marker('api_key')],
    [
      'sk_live_4eC39HqLyjWDarjtT1zdp7dc rk_live_51Habcdefghijklmnop',
      `${marker('api_key')} ${marker('api_key')}`,
    ],
    [
      'Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln',
      `Authorization: Bearer ${marker('bearer')}`,
    ],
    ['authorization: bearer  abc123DEF456==,', `authorization: bearer  ${marker('bearer')},`],
    ['BEARER\tsk-proj-Ab3dEfGhIjKlMnOpQrStUv', `BEARER\t${marker('bearer')}`],
    ['Bearer Bearer x1y2z3w4v5', `Bearer Bearer ${marker('bearer')}`],
  ])('should redact %j', (input, expected) => {
    expect(scrubText(input)).toBe(expected)
  })

  it.each([
    ['invalid Luhn', 'card 4111 1111 1111 1112 and 4111111111111112'],
    ['Luhn-valid but not a payment industry', '1732233600003 and 7992739871300'],
    [
      'a card glued to more digits',
      '4111111111111111-1 x4111111111111111 4111-1111-1111-1111-1234',
    ],
    ['a card in an unprinted grouping', '41 11 11 11 11 11 11 11 and 41111 11111 111111'],
    ['invalid CPF check digits', 'cpf 123.456.789-00 and 12345678900'],
    ['repeated-digit CPF', 'cpf 111.111.111-11 and 00000000000'],
    [
      'invalid SSN area, group or serial',
      '000-12-3456 666-12-3456 900-12-3456 123-00-4567 123-45-0000',
    ],
    ['an SSN glued to more digits', '123-45-67890 and 1123-45-6789'],
    ['a short international number', '+1234567 and +12 345'],
    ['a number past E.164', '+1234567890123456'],
    ['a phone inside an id', 'ORD-415-555-2671 and 415-555-2671-9 and x415.555.2671'],
    ['a phone glued to letters', '+5511987654321abc'],
    ['version numbers', 'v1.2.3.4 and 10.0.19045.3803 and 2.10.300'],
    ['dates and times', '2026-11-22 10:30:00 22/11/2026 2026-11-22T10:30:00.000+05:30'],
    ['order ids', 'ORD-12345678901234 #1234567 order_4111111111111111'],
    ['UUIDs', '123e4567-e89b-12d3-a456-426614174000 41111111-1111-1111-1111-111111111111'],
    ['IPv4 addresses', '192.168.100.200 and 10.0.0.1:8080'],
    ['prices', '$1,234.56 and R$ 1.234,56 and 4,111,111,111,111,111'],
    ['hex hashes', '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08'],
    ['a hash that starts with digits', '4111111111111111abcdef0123'],
    ['decimals', '3.14159265358979 and 0.4111111111111111'],
    ['prose', 'The quick brown fox jumps over the lazy dog; call me maybe at noon.'],
    ['"bearer" as an English word', 'Payable to the bearer instruments. Bearer Authentication.'],
    ['a short bearer token', 'Bearer abc123'],
    ['a key prefix with a short tail', 'sk-learn and sk-abc123 and AKIAshort and ghp_123'],
    ['a key prefix inside a word', 'task-abcdefghijklmnopqrstuvwxyz0123'],
    ['an address without a TLD', 'root@localhost and user@192.168.0.1'],
  ])('should leave %s alone', (_label, input) => {
    expect(scrubText(input)).toBe(input)
  })

  it('should keep precedence: a key inside a bearer is a bearer', () => {
    expect(scrubText('Bearer sk-proj-Ab3dEfGhIjKlMnOpQrStUv')).toBe(`Bearer ${marker('bearer')}`)
  })

  it('should keep precedence: digits inside an email are the email', () => {
    expect(scrubText('12345678909@example.com')).toBe(marker('email'))
    expect(scrubText('+5511987654321@s.whatsapp.net')).toBe(marker('email'))
  })

  it('should keep precedence: a grouped card is a card, not phones', () => {
    expect(scrubText('4111 1111 1111 1111')).toBe(marker('credit_card'))
  })

  it('should end an international number at a space before another finding', () => {
    expect(scrubText('+1 (415) 555-2671 4111 1111 1111 1111')).toBe(
      `${marker('phone')} ${marker('credit_card')}`,
    )
    expect(scrubText('+1 4111 1111 1111 1111')).toBe(`+1 ${marker('credit_card')}`)
    expect(scrubText('+55 11 98765 4321 123.456.789-09')).toBe(
      `${marker('phone')} ${marker('cpf')}`,
    )
  })

  it('should end an international number at a space when the digits run on past 15', () => {
    expect(scrubText('+44 20 7946 0958 4111111111111111')).toBe(
      `${marker('phone')} ${marker('credit_card')}`,
    )
    expect(scrubText('+1 415 555 2671 123-45-6789')).toBe(`${marker('phone')} ${marker('ssn')}`)
  })

  it('should return the same string when there is nothing to redact', () => {
    const text = 'nothing here'
    expect(scrubText(text)).toBe(text)
    expect(scrubText('')).toBe('')
  })

  it('should list every kind it can emit', () => {
    expect([...PII_KINDS].sort()).toEqual(
      ['api_key', 'bearer', 'cpf', 'credit_card', 'email', 'phone', 'ssn'].sort(),
    )
  })
})

describe('scrubText properties', () => {
  const embedded = (arb: fc.Arbitrary<Secret>) =>
    fc.tuple(
      sentence,
      fc.constantFrom(...SEPARATORS),
      arb,
      fc.constantFrom(...SEPARATORS),
      sentence,
    )

  it.each(PII_KINDS.map((kind) => [kind]))(
    'should redact every generated %s wherever it is embedded',
    (kind) => {
      fc.assert(
        fc.property(embedded(SECRET_ARBS[kind]), ([left, sep1, secret, sep2, right]) => {
          const out = scrubText(`${left}${sep1}${secret.text}${sep2}${right}`)
          expect(out).not.toContain(secret.secret)
          expect(out).toContain(marker(kind))
        }),
        RUNS,
      )
    },
  )

  it('should not redact ordinary text', () => {
    fc.assert(
      fc.property(ordinaryText, (text) => {
        expect(scrubText(text)).toBe(text)
      }),
      { numRuns: 1000 },
    )
  })

  it('should hide every secret even when secrets sit next to each other', () => {
    const list = fc.array(fc.tuple(anySecret, fc.constantFrom(...SEPARATORS)), {
      minLength: 2,
      maxLength: 6,
    })
    fc.assert(
      fc.property(list, (items) => {
        const out = scrubText(items.map(([s, sep]) => `${s.text}${sep}`).join(''))
        for (const [s] of items) expect(out).not.toContain(s.secret)
      }),
      RUNS,
    )
  })

  /** Text built from the characters the matchers care about, in any order. */
  const hostile = fc.string({
    unit: fc.oneof(
      chars('0123456789 -.+()@_=/[]:\n'),
      chars('abcxyzAZ'),
      fc.constantFrom('sk-', 'AIza', 'AKIA', 'Bearer ', 'bearer\t', '[REDACTED:phone]', '.com'),
    ),
    maxLength: 80,
  })
  const mixed = fc
    .array(
      fc.oneof(
        anySecret.map((s) => s.text),
        ordinaryToken,
        hostile,
      ),
      { maxLength: 8 },
    )
    .chain((parts) =>
      fc
        .array(fc.constantFrom('', ' ', '-', '.', '+', '@', ',', '\n'), {
          minLength: parts.length,
          maxLength: parts.length,
        })
        .map((seps) => parts.map((p, k) => `${p}${seps[k] ?? ''}`).join('')),
    )

  it('should be idempotent on any text, secrets glued together included', () => {
    fc.assert(
      fc.property(fc.oneof(mixed, hostile, fc.string()), (text) => {
        const once = scrubText(text)
        expect(scrubText(once)).toBe(once)
      }),
      { numRuns: 1000 },
    )
  })

  it('should count one redaction per marker it writes', () => {
    fc.assert(
      fc.property(mixed, (text) => {
        const s = stats()
        const out = scrubText(text, s)
        const markers = out.split('[REDACTED:').length - text.split('[REDACTED:').length
        expect(s.redactions).toBe(markers)
      }),
      RUNS,
    )
  })
})

describe('scrubJson', () => {
  it('should scrub string values and keys at every depth, copying containers', () => {
    const input = {
      user: { email: 'ana@example.com', 'bob@example.com': 'friend', age: 41 },
      messages: [
        { role: 'user', content: 'my card is 4111 1111 1111 1111' },
        ['nested', ['deeper +5511987654321']],
      ],
      card: 4111111111111111,
      ok: true,
      none: null,
    }
    const out = scrubJson(input)
    expect(out).toEqual({
      user: { email: marker('email'), [marker('email')]: 'friend', age: 41 },
      messages: [
        { role: 'user', content: `my card is ${marker('credit_card')}` },
        ['nested', [`deeper ${marker('phone')}`]],
      ],
      card: 4111111111111111,
      ok: true,
      none: null,
    })
  })

  it('should never mutate its input', () => {
    const make = () => ({ a: ['x@y.com', { 'k@y.com': '123-45-6789' }], b: 'Bearer abcdef123456' })
    const input = make()
    const out = scrubJson(input)
    expect(input).toEqual(make())
    expect(out).not.toBe(input)
    expect(out).not.toEqual(input)
  })

  it('should leave non-string leaves and non-plain objects as they are', () => {
    const date = new Date(0)
    const map = new Map([['a@b.com', 1]])
    for (const leaf of [0, 4111111111111111, -1.5, true, false, null, undefined, 10n, date, map]) {
      expect(scrubJson(leaf)).toBe(leaf)
    }
    expect(scrubJson({ when: date })).toEqual({ when: date })
  })

  it('should keep both entries when two keys scrub to the same marker', () => {
    expect(scrubJson({ 'a@b.com': 1, 'c@d.com': 2, 'e@f.com': 3 })).toEqual({
      [marker('email')]: 1,
      [`${marker('email')}#2`]: 2,
      [`${marker('email')}#3`]: 3,
    })
  })

  it('should keep a __proto__ key as data', () => {
    const input: unknown = JSON.parse('{"__proto__": {"x": "a@b.com"}}')
    const out = scrubJson(input)
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype)
    expect(Object.getOwnPropertyDescriptor(out, '__proto__')?.value).toEqual({ x: marker('email') })
  })

  it('should handle deep nesting without recursion and cycles without looping', () => {
    let deep: unknown = 'a@b.com'
    for (let k = 0; k < 100_000; k++) deep = [deep]
    let out = scrubJson(deep)
    for (let k = 0; k < 100_000; k++) out = Array.isArray(out) ? out[0] : undefined
    expect(out).toBe(marker('email'))

    const cyclic: Record<string, unknown> = { mail: 'a@b.com' }
    cyclic.self = cyclic
    const copy = scrubJson(cyclic) as Record<string, unknown>
    expect(copy.mail).toBe(marker('email'))
    expect(copy.self).toBe(copy)
  })

  it('should equal scrubText on every string it contains, and be idempotent', () => {
    const json = fc.jsonValue()
    const withSecrets = fc.dictionary(
      fc.oneof(
        fc.string(),
        anySecret.map((s) => s.text),
      ),
      fc.oneof(
        json,
        anySecret.map((s) => s.text),
      ),
    )
    fc.assert(
      fc.property(withSecrets, (value) => {
        const out = scrubJson(value)
        const strings = (v: unknown): string[] =>
          typeof v === 'string'
            ? [v]
            : Array.isArray(v)
              ? v.flatMap(strings)
              : v !== null && typeof v === 'object'
                ? Object.entries(v as Record<string, unknown>).flatMap(([k, x]) => [
                    k,
                    ...strings(x),
                  ])
                : []
        for (const s of strings(out)) expect(scrubText(s)).toBe(s)
        expect(scrubJson(out)).toEqual(out)
      }),
      RUNS,
    )
  })
})

describe('linear time', () => {
  const MB = 1 << 20
  /** Repeats `unit` to `size` characters, plus an optional tail. */
  const fill = (unit: string, size: number, tail = ''): string =>
    unit.repeat(Math.ceil(size / unit.length)).slice(0, size) + tail

  const ADVERSARIAL: [string, (size: number) => string][] = [
    ['a long digit run', (n) => fill('1', n)],
    ['a long local part and an @', (n) => fill('a', n, '@')],
    ['dotted local parts and an @', (n) => fill('a.', n, '@')],
    ['many @', (n) => fill('a@', n)],
    ['labels without a TLD', (n) => fill('a@b.1', n)],
    ['keys inside a local part', (n) => fill('x.sk-ABCDEFGHIJKLMNOPQRST.', n, '@')],
    ['+1 1 1 1 …', (n) => fill('+1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 ', n)],
    ['+1 repeated', (n) => fill('+1 ', n)],
    ['1-1-1-1-…', (n) => fill('1-', n)],
    ['1 1 1 1 …', (n) => fill('1 ', n)],
    ['4111 4111 …', (n) => fill('4111 ', n)],
    ['(1(1(1…', (n) => fill('(1', n)],
    ['+(1)(1)…', (n) => fill('+(1)', n)],
    ['sk- and megabytes of tail', (n) => `sk-${fill('a', n)}`],
    ['sk- with short tails', (n) => fill(' sk-abc', n)],
    ['AIza with short tails', (n) => fill('-AIza0123456789', n)],
    ['many Bearer', (n) => fill('Bearer ', n)],
    ['Bearer and long prose', (n) => `Bearer ${fill('a', n)}`],
    ['Bearer and many blanks', (n) => `Bearer ${fill(' ', n)}x`],
    ['bearer-bearer …', (n) => fill('bearer-bearer ', n)],
    ['dotted digits', (n) => fill('1.', n)],
    ['CPF look-alikes', (n) => fill('123.456.789-0', n)],
  ]

  it.each(ADVERSARIAL)('should examine O(n) characters on %s', (_label, make) => {
    const perChar: number[] = []
    for (const size of [1_000, 10_000, 100_000, MB]) {
      const text = make(size)
      const s = stats()
      scrubText(text, s)
      perChar.push(s.examined / text.length)
      expect(s.examined).toBeLessThanOrEqual(64 * text.length)
      expect(s.attempts).toBeLessThanOrEqual(4 * text.length)
    }
    // a quadratic scan would grow ~1000× from 1 kB to 1 MB; a linear one stays flat
    expect(Math.max(...perChar)).toBeLessThanOrEqual(2 * (perChar[0] ?? 0) + 1)
  })

  it('should stay linear on random hostile text', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: chars('0123456789 -.+()@_=/abBe:'), maxLength: 2000 }),
        (text) => {
          const s = stats()
          scrubText(text, s)
          expect(s.examined).toBeLessThanOrEqual(64 * text.length + 64)
        },
      ),
      RUNS,
    )
  })

  it('should scrub a 1 MB body full of findings in one pass', () => {
    const line = 'mail ana@example.com card 4111 1111 1111 1111 tel +5511987654321\n'
    const text = fill(line, MB)
    const s = stats()
    const out = scrubText(text, s)
    expect(out).not.toContain('4111 1111')
    expect(s.redactions).toBeGreaterThan(3 * Math.floor(MB / line.length))
    expect(s.examined).toBeLessThanOrEqual(16 * text.length)
  })
})

describe('scrubIdentifier', () => {
  it.each([
    ['req-536-22-8174', 'req-[REDACTED:ssn]'],
    ['id_529.982.247-25', 'id_[REDACTED:cpf]'],
    ['a:536-22-8174.b', 'a:[REDACTED:ssn].b'],
    ['order-12345', 'order-12345'],
    ['550e8400-e29b-41d4-a716-446655440000', '550e8400-e29b-41d4-a716-446655440000'],
  ])('should make %s %s', (id, scrubbed) => {
    expect(scrubIdentifier(id)).toBe(scrubbed)
  })
})
