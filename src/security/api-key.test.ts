import { afterEach, describe, expect, it, vi } from 'vitest'
import { seededRandom } from '../../test/support/unit'
import { crc32, generateApiKey, hashApiKey, parseApiKey, type KeyMode } from './api-key'

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'
const encoder = new TextEncoder()

/** Bit-at-a-time CRC-32 (no table), the independent reference the table-driven one must match. */
const referenceCrc32 = (text: string): string => {
  let crc = ~0
  for (const byte of encoder.encode(text)) {
    crc ^= byte
    for (let k = 0; k < 8; k++) crc = (crc >>> 1) ^ (0xedb88320 & -(crc & 1))
  }
  return (~crc >>> 0).toString(16).padStart(8, '0')
}

/** `body_<crc32>` with a correct checksum, so a rejection can only come from the shape. */
const withChecksum = (body: string): string => `${body}_${referenceCrc32(body)}`

/** Keys printed by the `scripts/dev.ts` generator that used `node:crypto` and `node:zlib`. */
const DEV_SCRIPT_KEYS: readonly [string, KeyMode][] = [
  ['flo_sk_test_zVp9nnxisGBXMO308wAyqnJyph7qUcp0_e0c04db1', 'test'],
  ['flo_sk_test_GGRmfa4E88QNwwsWLcAq9DubOMyTjF6t_f4b53398', 'test'],
  ['flo_sk_test_JqF6ixZ26bEnKO2OzxE7JCbVoynT0Rha_80552138', 'test'],
  ['flo_sk_live_SzD0WD5EDV3IPEgWAnLtpGd7GaYOJTpe_27614338', 'live'],
]
const TEST_KEY = 'flo_sk_test_zVp9nnxisGBXMO308wAyqnJyph7qUcp0_e0c04db1'
const RANDOM = 'zVp9nnxisGBXMO308wAyqnJyph7qUcp0'
const CHECKSUM = 'e0c04db1'

const hex = (n: number): string => n.toString(16).padStart(8, '0')

afterEach(() => {
  vi.restoreAllMocks()
})

describe('crc32', () => {
  it.each([
    ['', '00000000'],
    ['a', 'e8b7be43'],
    ['abc', '352441c2'],
    ['123456789', 'cbf43926'], // the CRC-32/ISO-HDLC check value
    ['The quick brown fox jumps over the lazy dog', '414fa339'],
  ])('should give the known value for %j', (text, expected) => {
    expect(hex(crc32(encoder.encode(text)))).toBe(expected)
  })

  it('should return unsigned values', () => {
    expect(crc32(new Uint8Array([0xff, 0xff, 0xff, 0xff]))).toBe(0xffffffff)
    expect(crc32(new Uint8Array([0]))).toBe(0xd202ef8d)
  })

  it('should match a bit-at-a-time reference on random inputs', () => {
    const random = seededRandom(0xc0ffee)
    const mismatches: string[] = []
    for (let length = 0; length < 300; length++) {
      let text = ''
      for (let i = 0; i < length; i++) text += String.fromCharCode(Math.floor(random() * 128))
      if (hex(crc32(encoder.encode(text))) !== referenceCrc32(text)) mismatches.push(text)
    }
    expect(mismatches).toEqual([])
  })
})

describe('generateApiKey', () => {
  it.each<KeyMode>(['live', 'test'])('should generate %s keys that parse as that mode', (mode) => {
    for (let i = 0; i < 200; i++) {
      const key = generateApiKey(mode)
      expect(key).toHaveLength(53)
      expect(key.startsWith(`flo_sk_${mode}_`)).toBe(true)
      expect(key.slice(45)).toBe(referenceCrc32(key.slice(0, 44)))
      expect(parseApiKey(key)).toEqual({
        ok: true,
        mode,
        displayPrefix: key.slice(0, 16),
        last4: key.slice(40, 44),
      })
    }
  })

  it('should not repeat keys', () => {
    const keys = new Set(Array.from({ length: 1000 }, () => generateApiKey('live')))
    expect(keys.size).toBe(1000)
  })

  it('should draw from crypto.getRandomValues and redraw bytes 248–255 instead of wrapping them', () => {
    // 248 % 62 === 0 and 255 % 62 === 7: a modulo without rejection would turn these into '0'–'7'.
    const script = [248, 255, 0, 61, 62, 247, 249, 10, 36, ...Array<number>(100).fill(250), 1]
    const spy = vi.spyOn(crypto, 'getRandomValues').mockImplementation((buffer) => {
      if (!(buffer instanceof Uint8Array)) throw new Error('expected a Uint8Array')
      for (let i = 0; i < buffer.length; i++) buffer[i] = script.shift() ?? 2
      return buffer
    })
    const key = generateApiKey('test')
    expect(spy).toHaveBeenCalled()
    expect(key.slice(12, 44)).toBe(`0z0zAa1${'2'.repeat(25)}`)
    expect(parseApiKey(key).ok).toBe(true)
  })

  // Pearson's chi-square over the 62 characters, 61 degrees of freedom (mean 61, sd ≈ 11).
  // 200 is exceeded by a uniform source with probability ≈ 1e-16, so the test does not flake; a
  // `byte % 62` generator (no rejection) scores ≈ 844 on this sample, so the bound still bites.
  const CHI_SQUARE_BOUND = 200
  const SAMPLE_KEYS = 4000 // × 32 characters = 128,000 draws, ≈ 2,065 per character

  const chiSquare = (counts: readonly number[]): number => {
    const total = counts.reduce((sum, count) => sum + count, 0)
    const expected = total / counts.length
    return counts.reduce((sum, count) => sum + (count - expected) ** 2 / expected, 0)
  }

  it('should spread the random part uniformly over base62', () => {
    const counts = Array<number>(62).fill(0)
    let outside = 0
    for (let i = 0; i < SAMPLE_KEYS; i++) {
      for (const char of generateApiKey('live').slice(12, 44)) {
        const index = BASE62.indexOf(char)
        if (index < 0) outside++
        else counts[index] = (counts[index] ?? 0) + 1
      }
    }
    expect(outside).toBe(0)
    expect(chiSquare(counts)).toBeLessThan(CHI_SQUARE_BOUND)
  })

  it('should use a chi-square bound that a modulo-biased generator exceeds', () => {
    // Exactly the distribution of `byte % 62` over uniform bytes, at the same sample size.
    const counts = Array<number>(62).fill(0)
    const rounds = (SAMPLE_KEYS * 32) / 256
    for (let byte = 0; byte < 256; byte++) counts[byte % 62] = (counts[byte % 62] ?? 0) + rounds
    expect(chiSquare(counts)).toBeGreaterThan(CHI_SQUARE_BOUND)
  })
})

describe('parseApiKey', () => {
  it.each(DEV_SCRIPT_KEYS)('should accept %s from the dev script generator', (key, mode) => {
    expect(parseApiKey(key)).toMatchObject({ ok: true, mode })
  })

  it('should accept a key built as the dev script built them', () => {
    // randomInt(62) over BASE62, then crc32 of `flo_sk_test_<random>` as 8 lowercase hex.
    const random = seededRandom(62)
    let part = ''
    for (let i = 0; i < 32; i++) part += BASE62.charAt(Math.floor(random() * 62))
    const body = `flo_sk_test_${part}`
    const key = `${body}_${referenceCrc32(body)}`
    expect(parseApiKey(key)).toEqual({
      ok: true,
      mode: 'test',
      displayPrefix: `flo_sk_test_${part.slice(0, 4)}`,
      last4: part.slice(28),
    })
  })

  it('should report the display prefix and the last four random characters', () => {
    expect(parseApiKey('flo_sk_live_SzD0WD5EDV3IPEgWAnLtpGd7GaYOJTpe_27614338')).toEqual({
      ok: true,
      mode: 'live',
      displayPrefix: 'flo_sk_live_SzD0',
      last4: 'JTpe',
    })
  })

  it.each<KeyMode>(['live', 'test'])(
    'should accept the same random part under the %s prefix',
    (mode) => {
      expect(parseApiKey(withChecksum(`flo_sk_${mode}_${RANDOM}`))).toMatchObject({
        ok: true,
        mode,
      })
    },
  )

  /** What a single-character change at `position` must be reported as. */
  const expectedReason = (position: number, replacement: string): 'format' | 'checksum' => {
    if (position < 12 || position === 44) return 'format' // prefix, separator
    if (position < 44) return BASE62.includes(replacement) ? 'checksum' : 'format'
    return '0123456789abcdef'.includes(replacement) ? 'checksum' : 'format'
  }
  const REPLACEMENTS = ['0', '7', 'a', 'f', 'g', 'z', 'A', 'Z', 't', '_', '-', '.', ' ', 'é', '\0']

  it.each([...DEV_SCRIPT_KEYS.map(([key]) => key), generateApiKey('live'), generateApiKey('test')])(
    'should reject every single-character change of %s with the right reason',
    (key) => {
      const mismatches: string[] = []
      let cases = 0
      for (let position = 0; position < key.length; position++) {
        for (const replacement of REPLACEMENTS) {
          if (key[position] === replacement) continue
          cases++
          const mutated = key.slice(0, position) + replacement + key.slice(position + 1)
          const verdict = parseApiKey(mutated)
          const expected = expectedReason(position, replacement)
          if (verdict.ok || verdict.reason !== expected) {
            mismatches.push(
              `${position} ${JSON.stringify(replacement)}: ${JSON.stringify(verdict)}`,
            )
          }
        }
      }
      expect(cases).toBeGreaterThanOrEqual(53 * (REPLACEMENTS.length - 1))
      expect(mismatches).toEqual([])
    },
  )

  it('should reject every truncation, deletion and insertion as format', () => {
    const wrong: string[] = []
    for (let length = 0; length < TEST_KEY.length; length++) {
      const truncated = TEST_KEY.slice(0, length)
      if (parseApiKey(truncated).ok || parseApiKey(TEST_KEY.slice(TEST_KEY.length - length)).ok)
        wrong.push(truncated)
    }
    for (let position = 0; position <= TEST_KEY.length; position++) {
      const deleted = TEST_KEY.slice(0, position) + TEST_KEY.slice(position + 1)
      const inserted = TEST_KEY.slice(0, position) + '0' + TEST_KEY.slice(position)
      for (const candidate of position < TEST_KEY.length ? [deleted, inserted] : [inserted]) {
        const verdict = parseApiKey(candidate)
        if (verdict.ok || verdict.reason !== 'format') wrong.push(candidate)
      }
    }
    expect(wrong).toEqual([])
  })

  it.each([
    ['an unknown mode', withChecksum(`flo_sk_prod_${RANDOM}`)],
    ['an upper-case prefix', withChecksum(`FLO_SK_TEST_${RANDOM}`)],
    ['a publishable-key prefix', withChecksum(`flo_pk_test_${RANDOM}`)],
    ['dashes in the prefix', withChecksum(`flo-sk-test-${RANDOM}`)],
    ['no prefix', withChecksum(`${RANDOM}abcdefghijkl`)],
    ['a random part one short', withChecksum(`flo_sk_test_${RANDOM.slice(1)}`)],
    ['a random part one long', withChecksum(`flo_sk_test_${RANDOM}x`)],
    ['a dash in the random part', withChecksum(`flo_sk_test_${RANDOM.slice(0, 31)}-`)],
    ['an underscore in the random part', withChecksum(`flo_sk_test__${RANDOM.slice(1)}`)],
    ['a non-ASCII letter in the random part', withChecksum(`flo_sk_test_é${RANDOM.slice(1)}`)],
    ['a full-width digit in the random part', withChecksum(`flo_sk_test_０${RANDOM.slice(1)}`)],
    ['a NUL in the random part', withChecksum(`flo_sk_test_${RANDOM.slice(0, 31)}\0`)],
    ['a dash as separator', `flo_sk_test_${RANDOM}-${CHECKSUM}`],
    ['a colon as separator', `flo_sk_test_${RANDOM}:${CHECKSUM}`],
    ['no separator', `flo_sk_test_${RANDOM}${CHECKSUM}0`],
    ['an upper-case checksum', `flo_sk_test_${RANDOM}_${CHECKSUM.toUpperCase()}`],
    ['a seven-digit checksum', `flo_sk_test_${RANDOM}_${CHECKSUM.slice(1)}`],
    ['a nine-digit checksum', `flo_sk_test_${RANDOM}_0${CHECKSUM}`],
    ['a 0x-prefixed checksum', `flo_sk_test_${RANDOM}_0x${CHECKSUM}`],
    ['a leading space', ` ${TEST_KEY}`],
    ['a trailing newline', `${TEST_KEY}\n`],
    ['the Bearer scheme', `Bearer ${TEST_KEY}`],
    ['an empty string', ''],
    ['the key twice', TEST_KEY + TEST_KEY],
    ['a megabyte of key-like text', `flo_sk_test_${'a'.repeat(1 << 20)}`],
  ])('should reject %s as format', (_label, presented) => {
    expect(parseApiKey(presented)).toEqual({ ok: false, reason: 'format' })
  })

  it('should reject a well-shaped key whose checksum does not match', () => {
    expect(parseApiKey(`flo_sk_test_${RANDOM}_00000000`)).toEqual({ ok: false, reason: 'checksum' })
  })

  it('should reject a live key relabelled as test (the checksum covers the prefix)', () => {
    const live = withChecksum(`flo_sk_live_${RANDOM}`)
    expect(parseApiKey(`flo_sk_test_${live.slice(12)}`)).toEqual({ ok: false, reason: 'checksum' })
  })

  it('should report format, not checksum, when both are wrong', () => {
    expect(parseApiKey(`flo_sk_test_${RANDOM.slice(1)}-_00000000`)).toEqual({
      ok: false,
      reason: 'format',
    })
  })
})

describe('hashApiKey', () => {
  it.each([
    ['', 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'],
    ['abc', 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'],
    [TEST_KEY, '81092389e3be44a320e1347e58555d2cb6827d0e17cec09fa666d8c335f9804e'],
  ])('should give the SHA-256 of %j as lowercase hex', async (key, expected) => {
    expect(await hashApiKey(key)).toBe(expected)
  })

  it('should hash the whole key', async () => {
    const other = `${TEST_KEY.slice(0, -1)}0`
    expect(await hashApiKey(other)).not.toBe(await hashApiKey(TEST_KEY))
    expect(await hashApiKey(other)).toMatch(/^[0-9a-f]{64}$/)
  })
})
