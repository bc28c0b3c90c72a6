/**
 * @module PII scrubber for the request log: `scrubText` for free text, `scrubJson` for parsed bodies.
 *
 * Each finding is replaced by `[REDACTED:<kind>]`; a bearer token keeps its scheme word and
 * spacing (`Bearer [REDACTED:bearer]`) so the log stays readable.
 *
 * - `bearer`: `Bearer` (any case), spaces or tabs, then a token68 (RFC 6750 §2.1) of 8 or more
 *   characters. A token that reads like a prose word (letters and hyphens only, in lower, Title or
 *   UPPER case, ignoring trailing dots) is left alone: "bearer instruments" is English.
 * - `api_key`: a vendor prefix from `KEY_RULES` followed by at least 16 characters of
 *   `[A-Za-z0-9_-]` (35 for Google's `AIza`, 16 of `[A-Z0-9]` for AWS); the whole run is redacted.
 * - `email`: `local@domain`, local `[A-Za-z0-9._%+-]+`, two or more labels, an alphabetic TLD.
 * - `credit_card`: 13–19 digits, first digit 2–6 (ISO/IEC 7812 payment and banking industries),
 *   Luhn-valid; bare, or in one of the printed groupings of `CARD_GROUPINGS` joined by one
 *   consistent space or dash. When two groupings fit (4-4-4-4 and 4-4-4-4-3), the longer
 *   Luhn-valid one wins.
 * - `cpf`: `ddd.ddd.ddd-dd` or 11 bare digits, both with valid check digits (Receita Federal
 *   mod-11), repeated-digit numbers such as `111.111.111-11` refused.
 * - `ssn`: `ddd-dd-dddd` without area 000, 666 or 900–999, group 00 or serial 0000 (SSA rules).
 * - `phone`: `+` and 8–15 digits (E.164's maximum) in groups joined by one space, dash or dot, or
 *   in parentheses; or, without `+`, the 10-digit shapes `(415) 555-2671`, `415-555-2671`,
 *   `415.555.2671`, `415 555 2671` (with an optional leading `1`), and `(11) 98765-4321`.
 *
 * A number must not be part of a longer run: the character before and after it may not be a
 * letter, digit or `_`, nor a dash or dot glued to another digit (so UUID groups, IPv4 octets,
 * decimals and `ORD-415-555-2671` are not findings). A space is never glue: a `+` number ends
 * at a space followed by another finding, or at the last space that keeps it within 15 digits.
 *
 * Precedence: the scan goes left to right and the earliest start wins, so a finding swallows
 * whatever starts inside it (a key inside `Bearer …` is reported as `bearer`; a card inside an
 * email's local part as `email`). At one start the kinds are tried in `PII_KINDS` order: bearer,
 * api_key, email, credit_card, cpf, ssn, phone. The digit shapes hardly overlap (a card's first
 * group has 4 digits, NANP's 3, a bare CPF is 11 digits where cards need 13). Space-separated
 * digits stay ambiguous: in `4111 1111 1111 1111 415 555 2671` a Luhn-valid 19-digit reading
 * (1 in 10) takes the `415` too; nothing is left visible but `555 2671`.
 *
 * Linear time. There is no regular expression: one left-to-right pass, and at each position a
 * few hand-written matchers that only read forward, never back-track into text already passed.
 * - Digit kinds read a bounded window (at most 15 or 19 digits plus separators and 2 characters of
 *   look-ahead; a `+` number also tries the bounded card, CPF and SSN matchers at each of its at
 *   most 15 groups), so each start costs O(1).
 * - `api_key` fails after reading at most its prefix and minimum tail (bounded); it reads the
 *   rest of the run only on success, and that text is consumed.
 * - `email` reads the local run to its end, then the domain. On failure every start inside that
 *   run would read to the same `@` and fail the same way, so the scanner skips email starts up to
 *   there (`emailSkipUntil`): each character is read by at most one local and one domain scan.
 * - `bearer` reads the word, the blanks and the token. Another `bearer` can begin inside that
 *   token only where the token ends (it needs blanks after it), so each token is read once.
 * The `examined` count in `ScrubStats` counts every character read, and the tests hold it under
 * c·n on adversarial inputs of growing size.
 *
 * Idempotent: `scrubText(scrubText(x)) === scrubText(x)`. A marker is `[`…`]`, which no matcher
 * reads through, and context to the left of a position that falls inside an earlier finding is
 * read as `]`, the marker's last character, so a second pass sees the boundaries the first did.
 *
 * Limits: `scrubText` expects decoded text (use `scrubJson` on a parsed body, not on its JSON
 * source, where `\n4111…` hides a card behind an escape); numbers in JSON number leaves are left
 * as numbers; ASCII digits only; a token of lowercase letters only after `bearer` is not redacted.
 */

export const PII_KINDS = [
  'bearer',
  'api_key',
  'email',
  'credit_card',
  'cpf',
  'ssn',
  'phone',
] as const
export type PiiKind = (typeof PII_KINDS)[number]

/** Work counters, added to by `scrubText`: characters read, matcher calls, findings replaced. */
export type ScrubStats = { examined: number; attempts: number; redactions: number }

/** `[prefix, minimum tail length, tail limited to [A-Z0-9]]`. Vendors' documented key formats. */
type KeyRule = readonly [prefix: string, minTail: number, upperTail: boolean]

const KEY_RULES: readonly KeyRule[] = [
  ['sk-', 16, false], // OpenAI sk-… and sk-proj-…, Anthropic sk-ant-…
  ['sk_live_', 16, false], // Stripe secret and restricted keys
  ['sk_test_', 16, false],
  ['rk_live_', 16, false],
  ['rk_test_', 16, false],
  ['flo_sk_live_', 16, false], // this gateway's own keys (see api-key.ts)
  ['flo_sk_test_', 16, false],
  ['AIza', 35, false], // Google API key, 39 characters in all
  ['gsk_', 16, false], // Groq
  ['ghp_', 16, false], // GitHub personal, OAuth, user-to-server, server, refresh tokens
  ['gho_', 16, false],
  ['ghu_', 16, false],
  ['ghs_', 16, false],
  ['ghr_', 16, false],
  ['github_pat_', 16, false],
  ['AKIA', 16, true], // AWS access key id (and temporary ASIA…), 20 characters in all
  ['ASIA', 16, true],
  ['xoxb-', 16, false], // Slack bot, user, app and legacy tokens
  ['xoxp-', 16, false],
  ['xoxa-', 16, false],
  ['xoxs-', 16, false],
]

/** Groupings printed on cards and in forms: Visa/Mastercard, Amex, Diners, 13- and 19-digit PANs. */
const CARD_GROUPINGS: readonly (readonly number[])[] = [
  [4, 4, 4, 4],
  [4, 6, 5],
  [4, 6, 4],
  [4, 4, 5],
  [4, 3, 3, 3],
  [4, 4, 4, 4, 3],
]

const RULES_BY_FIRST = new Map<number, KeyRule[]>()
for (const rule of KEY_RULES) {
  const first = rule[0].charCodeAt(0)
  RULES_BY_FIRST.set(first, [...(RULES_BY_FIRST.get(first) ?? []), rule])
}

const TAB = 0x09
const SPACE = 0x20
const PERCENT = 0x25
const LPAREN = 0x28
const RPAREN = 0x29
const PLUS = 0x2b
const DASH = 0x2d
const DOT = 0x2e
const SLASH = 0x2f
const ZERO = 0x30
const AT = 0x40
const EQUALS = 0x3d
const RBRACKET = 0x5d
const UNDERSCORE = 0x5f
const TILDE = 0x7e
const BEARER = [0x62, 0x65, 0x61, 0x72, 0x65, 0x72] // "bearer"

const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39
const isUpper = (c: number): boolean => c >= 0x41 && c <= 0x5a
const isLower = (c: number): boolean => c >= 0x61 && c <= 0x7a
const isAlpha = (c: number): boolean => isUpper(c) || isLower(c)
const isAlnum = (c: number): boolean => isDigit(c) || isAlpha(c)
const isWord = (c: number): boolean => isAlnum(c) || c === UNDERSCORE
const isKeyChar = (c: number): boolean => isWord(c) || c === DASH
const isLocalChar = (c: number): boolean => isKeyChar(c) || c === DOT || c === PERCENT || c === PLUS
const isLabelChar = (c: number): boolean => isAlnum(c) || c === DASH
const isToken68 = (c: number): boolean =>
  isKeyChar(c) || c === DOT || c === TILDE || c === PLUS || c === SLASH
const isGlue = (c: number): boolean => c === DASH || c === DOT
const isPhoneSep = (c: number): boolean => c === SPACE || c === DASH || c === DOT

/** Luhn (ISO/IEC 7812-1 annex B) over `digits[0..count)`. */
const luhn = (digits: Uint8Array, count: number): boolean => {
  let sum = 0
  for (let k = 0; k < count; k++) {
    const d = digits[count - 1 - k] ?? 0
    sum += k % 2 === 1 ? (d > 4 ? 2 * d - 9 : 2 * d) : d
  }
  return sum % 10 === 0
}

/** CPF check digits: weights 10..2 then 11..2, remainder of ×10 mod 11, 10 counting as 0. */
const validCpf = (d: Uint8Array): boolean => {
  let same = true
  let s1 = 0
  let s2 = 0
  for (let k = 0; k < 9; k++) {
    const v = d[k] ?? 0
    if (v !== d[0]) same = false
    s1 += v * (10 - k)
    s2 += v * (11 - k)
  }
  const c1 = ((s1 * 10) % 11) % 10
  s2 += c1 * 2
  const c2 = ((s2 * 10) % 11) % 10
  return !same && d[9] === c1 && d[10] === c2
}

class Scanner {
  steps = 0
  attempts = 0
  redactions = 0
  /** End of the last finding: context read left of it is the marker's closing `]`. */
  private floor = 0
  private emailSkipUntil = 0
  /** Set by a successful matcher: what it found, and how many leading characters stay. */
  private kind: PiiKind = 'email'
  private keep = 0
  private readonly text: string
  private readonly n: number
  private readonly hasAt: boolean
  private readonly buf = new Uint8Array(32)
  private readonly groups = new Uint8Array(8)

  constructor(text: string) {
    this.text = text
    this.n = text.length
    this.hasAt = text.includes('@')
    this.steps += this.n // the native `includes` scan
  }

  run(): string {
    const { text, n } = this
    const parts: string[] = []
    let emitted = 0
    let i = 0
    while (i < n) {
      const end = this.matchAt(i)
      if (end < 0) {
        i++
        continue
      }
      parts.push(text.slice(emitted, i + this.keep), `[REDACTED:${this.kind}]`)
      this.redactions++
      emitted = end
      i = end
      this.floor = end
    }
    if (parts.length === 0) return text
    parts.push(text.slice(emitted))
    return parts.join('')
  }

  private at(i: number): number {
    this.steps++
    return i >= 0 && i < this.n ? this.text.charCodeAt(i) : -1
  }

  /** A character left of the current position, as a second pass would see it. */
  private before(i: number): number {
    return i < 0 ? -1 : i < this.floor ? RBRACKET : this.at(i)
  }

  private found(kind: PiiKind, end: number): number {
    if (end >= 0) this.kind = kind
    return end
  }

  private matchAt(i: number): number {
    const c = this.at(i)
    const prev = this.before(i - 1)
    this.keep = 0
    let end = -1
    if ((c | 0x20) === BEARER[0] && !isWord(prev)) end = this.found('bearer', this.bearer(i))
    const rules = RULES_BY_FIRST.get(c)
    if (end < 0 && rules && !isWord(prev)) end = this.found('api_key', this.apiKey(i, rules))
    if (end < 0 && this.hasAt && isLocalChar(c) && !isLocalChar(prev) && i >= this.emailSkipUntil)
      end = this.found('email', this.email(i))
    if (end < 0 && (isDigit(c) || c === PLUS || c === LPAREN) && this.numberStart(prev, i)) {
      if (isDigit(c)) {
        end = this.found('credit_card', this.card(i))
        if (end < 0) end = this.found('cpf', this.cpf(i))
        if (end < 0) end = this.found('ssn', this.ssn(i))
        if (end < 0) end = this.found('phone', this.nanp(i))
      } else {
        end = this.found('phone', c === PLUS ? this.plusPhone(i) : this.parenPhone(i))
      }
    }
    return end
  }

  /** Not glued to a longer run on the left: no word character, nor a dash or dot after one. */
  private numberStart(prev: number, i: number): boolean {
    if (isWord(prev)) return false
    return !isGlue(prev) || !isWord(this.before(i - 2))
  }

  /** Not glued to a longer run on the right: no word character, nor a dash or dot and a digit. */
  private numberEnd(j: number): boolean {
    const c = this.at(j)
    if (isWord(c)) return false
    return !isGlue(c) || !isDigit(this.at(j + 1))
  }

  /** Reads up to `max + 1` digits at `j` into `buf[offset…]`; the count says if there were more. */
  private digits(j: number, max: number, offset = 0): number {
    let k = 0
    while (k <= max) {
      const c = this.at(j + k)
      if (!isDigit(c)) break
      this.buf[offset + k] = c - ZERO
      k++
    }
    return k
  }

  private bearer(i: number): number {
    this.attempts++
    for (let k = 1; k < 6; k++) if ((this.at(i + k) | 0x20) !== BEARER[k]) return -1
    let j = i + 6
    for (let c = this.at(j); c === SPACE || c === TAB; c = this.at(j)) j++
    if (j === i + 6) return -1
    const start = j
    while (isToken68(this.at(j))) j++
    if (this.bearerAt(j - 6, start)) j -= 6 // `t0k/Bearer t0k2`: the next token is its own finding
    while (this.at(j) === EQUALS) j++
    if (j - start < 8 || this.proseWord(start, j)) return -1
    this.keep = start - i
    return j
  }

  /** Whether a `bearer` scheme and its blank start at `s`, after `from`, inside a run. */
  private bearerAt(s: number, from: number): boolean {
    if (s <= from || isWord(this.at(s - 1))) return false
    for (let k = 0; k < 6; k++) if ((this.at(s + k) | 0x20) !== BEARER[k]) return false
    const blank = this.at(s + 6)
    return blank === SPACE || blank === TAB
  }

  private proseWord(start: number, end: number): boolean {
    let last = end
    while (last > start && this.at(last - 1) === DOT) last--
    let lower = false
    let innerUpper = false
    for (let k = start; k < last; k++) {
      const c = this.at(k)
      if (c === DASH) continue
      if (!isAlpha(c)) return false
      if (isLower(c)) lower = true
      else if (k > start) innerUpper = true
    }
    return !(lower && innerUpper)
  }

  private apiKey(i: number, rules: readonly KeyRule[]): number {
    this.attempts++
    for (const rule of rules) {
      const end = this.keyEnd(i, rule)
      if (end >= 0) return end
    }
    return -1
  }

  /** Fails within prefix + minimum tail (bounded); reads the rest of the run only on success. */
  private keyEnd(i: number, [prefix, minTail, upperTail]: KeyRule): number {
    for (let k = 1; k < prefix.length; k++) if (this.at(i + k) !== prefix.charCodeAt(k)) return -1
    let j = i + prefix.length
    for (const stop = j + minTail; j < stop; j++) {
      const c = this.at(j)
      if (upperTail ? !isUpper(c) && !isDigit(c) : !isKeyChar(c)) return -1
    }
    while (isKeyChar(this.at(j))) j++
    if (this.bearerAt(j - 6, i)) j -= 6 // `sk-…-Bearer t0k`: the token is its own finding
    return j - i - prefix.length >= minTail ? j : -1
  }

  private email(i: number): number {
    this.attempts++
    let j = i
    while (isLocalChar(this.at(j))) j++
    const end = this.at(j) === AT ? this.domain(j + 1) : -1
    if (end < 0) this.emailSkipUntil = j // every start in [i, j) ends at the same `@`, or none
    return end
  }

  /** End of the longest `label(.label)+` whose last label is alphabetic, or -1. */
  private domain(d: number): number {
    let k = d
    let labels = 0
    let good = -1
    for (;;) {
      const start = k
      let alpha = true
      for (let c = this.at(k); isLabelChar(c); c = this.at(k)) {
        if (!isAlpha(c)) alpha = false
        k++
      }
      if (k === start) break
      labels++
      if (labels >= 2 && alpha && k - start >= 2) good = k
      if (this.at(k) !== DOT || !isLabelChar(this.at(k + 1))) break
      k++
    }
    return good
  }

  private card(i: number): number {
    this.attempts++
    const first = this.at(i) - ZERO
    if (first < 2 || first > 6) return -1
    const run = this.digits(i, 19)
    if (run >= 13) return run <= 19 && this.numberEnd(i + run) && luhn(this.buf, run) ? i + run : -1
    const sep = this.at(i + 4)
    if (run !== 4 || (sep !== SPACE && sep !== DASH)) return -1
    // read up to five groups of 3–6 digits, then try the longest printed grouping they start with
    const { groups } = this
    groups[0] = 4
    let count = 4
    let j = i + 4
    let found = 1
    while (found < 5 && this.at(j) === sep) {
      const g = this.digits(j + 1, 6, count)
      if (g < 3 || g > 6 || count + g > 19) break
      groups[found++] = g
      count += g
      j += 1 + g
    }
    let best = -1
    for (const grouping of CARD_GROUPINGS) {
      if (grouping.length > found || !grouping.every((g, k) => groups[k] === g)) continue
      let end = i - 1
      let digits = 0
      for (const g of grouping) {
        end += 1 + g
        digits += g
      }
      if (end > best && this.numberEnd(end) && luhn(this.buf, digits)) best = end
    }
    return best
  }

  private cpf(i: number): number {
    this.attempts++
    const run = this.digits(i, 11)
    let end = -1
    if (run === 11) end = i + 11
    else if (
      run === 3 &&
      this.at(i + 3) === DOT &&
      this.digits(i + 4, 3, 3) === 3 &&
      this.at(i + 7) === DOT &&
      this.digits(i + 8, 3, 6) === 3 &&
      this.at(i + 11) === DASH &&
      this.digits(i + 12, 2, 9) === 2
    )
      end = i + 14
    return end >= 0 && validCpf(this.buf) && this.numberEnd(end) ? end : -1
  }

  private ssn(i: number): number {
    this.attempts++
    const b = this.buf
    if (
      this.digits(i, 3) !== 3 ||
      this.at(i + 3) !== DASH ||
      this.digits(i + 4, 2, 3) !== 2 ||
      this.at(i + 6) !== DASH ||
      this.digits(i + 7, 4, 5) !== 4
    )
      return -1
    const area = (b[0] ?? 0) * 100 + (b[1] ?? 0) * 10 + (b[2] ?? 0)
    const group = (b[3] ?? 0) * 10 + (b[4] ?? 0)
    const serial = (b[5] ?? 0) * 1000 + (b[6] ?? 0) * 100 + (b[7] ?? 0) * 10 + (b[8] ?? 0)
    const valid = area !== 0 && area !== 666 && area < 900 && group !== 0 && serial !== 0
    return valid && this.numberEnd(i + 11) ? i + 11 : -1
  }

  /** Whether a finding that outranks a phone starts at `q` (bounded: card, CPF, SSN; email cached). */
  private strongerAt(q: number): boolean {
    const email = this.hasAt && q >= this.emailSkipUntil && this.email(q) >= 0
    return email || this.card(q) >= 0 || this.cpf(q) >= 0 || this.ssn(q) >= 0
  }

  /** `415-555-2671`, `415.555.2671`, `415 555 2671`, optionally after `1` and the same separator. */
  private nanp(i: number): number {
    this.attempts++
    let j = i
    let sep = -1
    if (this.at(i) === ZERO + 1 && this.digits(i, 1) === 1 && isPhoneSep(this.at(i + 1))) {
      sep = this.at(i + 1)
      j = i + 2
    }
    if (this.digits(j, 3) !== 3) return -1
    const s = this.at(j + 3)
    if (!isPhoneSep(s) || (sep >= 0 && s !== sep)) return -1
    if (this.digits(j + 4, 3) !== 3 || this.at(j + 7) !== s || this.digits(j + 8, 4) !== 4)
      return -1
    return this.numberEnd(j + 12) ? j + 12 : -1
  }

  /** `(415) 555-2671`, `(415)555.2671`, `(11) 98765-4321`: 10 or 11 digits. */
  private parenPhone(i: number): number {
    this.attempts++
    const area = this.digits(i + 1, 3)
    if (area < 2 || area > 3 || this.at(i + 1 + area) !== RPAREN) return -1
    let j = i + 2 + area
    if (this.at(j) === SPACE) j++
    const middle = this.digits(j, 5)
    if (middle < 3 || middle > 5 || area + middle + 4 < 10) return -1
    j += middle
    if (!isPhoneSep(this.at(j)) || this.digits(j + 1, 4) !== 4) return -1
    return this.numberEnd(j + 5) ? j + 5 : -1
  }

  /**
   * `+` then digit groups joined by one space, dash or dot, or parenthesised: 8–15 digits. A space
   * is a word break, never glue: the number stops before a space followed by an email, card, CPF
   * or SSN, and a run that goes past 15 digits is no phone, but its longest prefix ending before
   * a joining space with 8 or more digits is (`fallback`).
   */
  private plusPhone(i: number): number {
    this.attempts++
    let j = i + 1
    let end = j // where the number ends if the group at j turns out not to be one
    let count = 0
    let fallback = -1
    for (;;) {
      const paren = this.at(j) === LPAREN
      const g = this.digits(paren ? j + 1 : j, 15 - count)
      if (count + g > 15) return fallback
      if (g === 0 || (paren && this.at(j + 1 + g) !== RPAREN)) break
      count += g
      j += paren ? g + 2 : g
      end = j
      const c = this.at(j)
      if (isPhoneSep(c)) {
        const next = this.at(j + 1)
        if (!isDigit(next) && next !== LPAREN) break
        if (c === SPACE && this.strongerAt(j + 1)) break
        if (c === SPACE && count >= 8) fallback = j
        j++
      } else if (c !== LPAREN && !(paren && isDigit(c))) break
    }
    return count >= 8 && this.numberEnd(end) ? end : fallback
  }
}

/**
 * Replaces every finding in `text` (see the module doc for kinds and precedence). Pass `stats`
 * to have the work counted; the function is otherwise pure.
 */
export function scrubText(text: string, stats?: ScrubStats): string {
  const scanner = new Scanner(text)
  const out = scanner.run()
  if (stats) {
    stats.examined += scanner.steps
    stats.attempts += scanner.attempts
    stats.redactions += scanner.redactions
  }
  return out
}

/** Separators inside an identifier (`[\w.:=-]`): a finding may start right after one. */
const ID_SEPARATOR = /[-_.:=]/

/**
 * Scrubs an identifier a client chose (an `x-request-id`): as `scrubText`, and also a finding that
 * starts right after a separator — in an identifier `req-536-22-8174` the number is not part of a
 * longer word, as it would be in prose.
 */
export function scrubIdentifier(id: string): string {
  const whole = scrubText(id)
  if (whole !== id) return whole
  for (let k = 1; k < id.length; k++) {
    if (!ID_SEPARATOR.test(id.charAt(k - 1))) continue
    const tail = id.slice(k)
    const scrubbed = scrubText(tail)
    if (scrubbed !== tail) return `${scrubIdentifier(id.slice(0, k))}${scrubbed}`
  }
  return id
}

type Job =
  | { from: readonly unknown[]; to: unknown[]; object: false }
  | { from: Readonly<Record<string, unknown>>; to: Record<string, unknown>; object: true }

const isPlainObject = (value: object): value is Readonly<Record<string, unknown>> => {
  const proto: unknown = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

/** `key`, or `key#2`, `key#3`… when scrubbing made two keys of one object equal. */
const freeKey = (to: Record<string, unknown>, key: string, next: Map<string, number>): string => {
  if (!Object.hasOwn(to, key)) return key
  let n = next.get(key) ?? 2
  while (Object.hasOwn(to, `${key}#${n}`)) n++
  next.set(key, n + 1)
  return `${key}#${n}`
}

/**
 * Returns a copy of a JSON-like value with every string value and every object key scrubbed.
 * Arrays and plain objects are copied; numbers, booleans, null and other objects (Date, Map,
 * class instances) are returned as they are. Iterative, so deep nesting cannot overflow the
 * stack; a shared or cyclic reference is copied once and stays shared.
 */
export function scrubJson(value: unknown): unknown {
  const copies = new Map<object, unknown>()
  const jobs: Job[] = []
  const visit = (v: unknown): unknown => {
    if (typeof v === 'string') return scrubText(v)
    if (typeof v !== 'object' || v === null) return v
    if (copies.has(v)) return copies.get(v)
    if (Array.isArray(v)) {
      const to: unknown[] = []
      jobs.push({ from: v, to, object: false })
      copies.set(v, to)
      return to
    }
    if (!isPlainObject(v)) return v
    const to: Record<string, unknown> = {}
    jobs.push({ from: v, to, object: true })
    copies.set(v, to)
    return to
  }
  const root = visit(value)
  for (let job = jobs.pop(); job; job = jobs.pop()) {
    if (!job.object) {
      for (const item of job.from) job.to.push(visit(item))
      continue
    }
    const next = new Map<string, number>()
    for (const [key, item] of Object.entries(job.from)) {
      // defineProperty, not assignment: a `__proto__` key stays an own data property
      Object.defineProperty(job.to, freeKey(job.to, scrubText(key), next), {
        value: visit(item),
        enumerable: true,
        writable: true,
        configurable: true,
      })
    }
  }
  return root
}
