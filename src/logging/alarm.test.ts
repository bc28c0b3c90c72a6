/**
 * Proves alarm lines are throttled to one per event kind per 10 s, that the next line carries how
 * many occurrences the pause swallowed, that event kinds do not throttle each other, and that
 * `describeError` keeps credential-shaped text out of log lines.
 */
import { afterEach, beforeEach, describe, expect, it, vi, type MockInstance } from 'vitest'
import { generateApiKey } from '../security/api-key'
import { alarm, describeError } from './alarm'

const START = Date.UTC(2025, 4, 1, 12, 0, 0)

/** Alarm state lives for the isolate: each test uses event names no other test uses. */
let serial = 0
const newEvent = (): string => `test event ${++serial}`

let log: MockInstance<typeof console.error>

/** Every line written so far, parsed. */
const lines = (): Record<string, unknown>[] =>
  log.mock.calls.map((call) => JSON.parse(String(call[0])) as Record<string, unknown>)

const at = (ms: number): void => {
  vi.setSystemTime(START + ms)
}

beforeEach(() => {
  vi.useFakeTimers()
  at(0)
  log = vi.spyOn(console, 'error').mockImplementation(() => undefined)
})

afterEach(() => {
  vi.useRealTimers()
  vi.restoreAllMocks()
})

describe('alarm', () => {
  it('should write one JSON line with the event, the detail and suppressed 0', () => {
    const event = newEvent()
    alarm(event, { error: 'Error: down', store: 'redis' })
    expect(log).toHaveBeenCalledTimes(1)
    expect(lines()).toStrictEqual([
      { level: 'error', msg: event, error: 'Error: down', store: 'redis', suppressed: 0 },
    ])
  })

  it('should write a line with no detail', () => {
    const event = newEvent()
    alarm(event)
    expect(lines()).toStrictEqual([{ level: 'error', msg: event, suppressed: 0 }])
  })

  it('should write at most one line per event every 10 s', () => {
    const event = newEvent()
    alarm(event)
    at(1)
    alarm(event)
    at(5_000)
    alarm(event)
    at(9_999)
    alarm(event)
    expect(log).toHaveBeenCalledTimes(1)
  })

  it('should report the suppressed count on the next line, then start counting again', () => {
    const event = newEvent()
    alarm(event)
    at(2_000)
    alarm(event)
    alarm(event)
    alarm(event)
    at(10_000)
    alarm(event, { error: 'later' })
    expect(lines().map((line) => line.suppressed)).toStrictEqual([0, 3])
    expect(lines()[1]).toMatchObject({ msg: event, error: 'later' })

    at(15_000)
    alarm(event)
    at(20_000)
    alarm(event)
    expect(lines().map((line) => line.suppressed)).toStrictEqual([0, 3, 1])
  })

  it('should measure the 10 s from the last written line, not the last occurrence', () => {
    const event = newEvent()
    alarm(event)
    at(9_000)
    alarm(event)
    at(12_000) // 12 s after the line, 3 s after the last occurrence
    alarm(event)
    expect(lines().map((line) => line.suppressed)).toStrictEqual([0, 1])
  })

  it('should report 0 suppressed after a quiet pause', () => {
    const event = newEvent()
    alarm(event)
    at(60_000)
    alarm(event)
    expect(lines().map((line) => line.suppressed)).toStrictEqual([0, 0])
  })

  it('should throttle each event on its own', () => {
    const first = newEvent()
    const second = newEvent()
    alarm(first)
    alarm(second)
    at(1_000)
    alarm(first)
    alarm(first)
    alarm(second)
    at(10_000)
    alarm(first)
    at(11_000)
    alarm(second)
    expect(lines().map((line) => [line.msg, line.suppressed])).toStrictEqual([
      [first, 0],
      [second, 0],
      [first, 2],
      [second, 1],
    ])
  })
})

describe('describeError', () => {
  it('should give the error name and message', () => {
    expect(describeError(new Error('connection refused'))).toBe('Error: connection refused')
    expect(describeError(new TypeError('fetch failed'))).toBe('TypeError: fetch failed')
  })

  it('should use a custom error name', () => {
    const err = new Error('timed out after 500 ms')
    err.name = 'StoreTimeout'
    expect(describeError(err)).toBe('StoreTimeout: timed out after 500 ms')
  })

  it.each<[string, unknown]>([
    ['a string', 'sk-proj-abcdefghijklmnopqrstuvwxyz'],
    ['an object', { apiKey: 'sk-proj-abcdefghijklmnopqrstuvwxyz' }],
    ['undefined', undefined],
    ['null', null],
    ['a number', 42],
  ])('should not describe %s that was thrown beyond saying it is not an error', (_name, value) => {
    expect(describeError(value)).toBe('non-error thrown')
  })

  it.each([
    ['an OpenAI key', 'sk-proj-Abc123Def456Ghi789Jkl0'],
    ['an Anthropic key', 'sk-ant-api03-Abc123Def456Ghi789'],
    ['a Groq key', 'gsk_Abc123Def456Ghi789Jkl0'],
    ['a Google key', 'AIzaSyAbc123Def456Ghi789Jkl0MnoPqr'],
    ['an xAI key', 'xai-Abc123Def456Ghi789Jkl0'],
  ])('should redact %s', (_name, secret) => {
    const description = describeError(new Error(`upstream refused key ${secret} (401)`))
    expect(description).not.toContain(secret)
    expect(description).toContain('[REDACTED]')
    expect(description).toContain('upstream refused key')
  })

  it('should redact a gateway key', () => {
    const key = generateApiKey('live')
    const description = describeError(new Error(`lookup failed for ${key}`))
    expect(description).not.toContain(key)
    expect(description).not.toContain(key.slice(12, 44))
    expect(description).toBe('Error: lookup failed for [REDACTED]')
  })

  it('should redact a bearer token', () => {
    const token = 'eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIn0.c2lnbmF0dXJl'
    const description = describeError(new Error(`401 with Authorization: Bearer ${token}`))
    expect(description).not.toContain(token)
    expect(description).not.toContain('eyJ')
    expect(description).toContain('[REDACTED]')
  })

  it('should redact every secret in one message', () => {
    const description = describeError(
      new Error('keys sk-one1234567890abcd and sk-two1234567890abcd both failed'),
    )
    expect(description).toBe('Error: keys [REDACTED] and [REDACTED] both failed')
  })

  it('should cut a long description to 300 characters', () => {
    const description = describeError(new Error('x'.repeat(1_000)))
    expect(description).toHaveLength(300)
    expect(description.startsWith('Error: xxx')).toBe(true)
  })

  it('should redact before cutting, so a secret at the cut leaves no fragment', () => {
    // 'Error: ' (7) + 284 + ' ' (1) + 'sk-' (3) = 295: cutting first would keep 'sk-' and five
    // characters of the key, too short for the pattern to catch.
    const secret = 'Zq7Wp2Lm9Xc4Vb8Nn1Kk5Jj3'
    const description = describeError(new Error(`${'x'.repeat(284)} sk-${secret}`))
    expect(description).not.toContain(secret.slice(0, 5))
    expect(description).not.toContain('sk-')
  })
})
