/**
 * Reading a request log Queue message as the consumer and `npm run logs:replay` do: sealed raw
 * facts become the record `buildRecord` makes of them (the IP hashed with the consumer's key); a
 * record a producer built itself and a feedback record pass as they are; a sealed message that
 * does not open — no keyring, a key id it does not hold, tampered bytes, a payload that is not
 * facts — is reported with its key id and reason, never its content; anything else is malformed.
 */
import { describe, expect, it } from 'vitest'
import type { FeedbackRecord } from '../feedback/record'
import { queuedFacts } from '../../test/support/log-facts'
import { sealFacts } from './facts'
import { readMessage } from './messages'
import { buildRecord, ipHashKey, type RequestFacts } from './record'
import { parseLogKeys, sealMessage } from './seal'

const keyBytes = (seed: number): string =>
  btoa(String.fromCharCode(...Array.from({ length: 32 }, (_, i) => (seed * 31 + i) % 256)))

const KEYS = parseLogKeys(JSON.stringify({ current: 'k1', keys: { k1: keyBytes(1) } }))
const OTHER = parseLogKeys(JSON.stringify({ current: 'lost', keys: { lost: keyBytes(2) } }))

const FACTS: RequestFacts = queuedFacts('req-sealed', 'I am jane.doe@example.com')

const FEEDBACK: FeedbackRecord = {
  kind: 'feedback',
  feedback_id: 'fb_1',
  org_id: 'org_1',
  request_id: 'req-1',
  metric: 'rating',
  value: 1,
  reward: 1,
  comment: '',
  rule: '',
  target: 'openai/gpt-4o-mini',
  cache_hit: false,
  request_at: '2026-11-22 10:00:00.000',
  created_at: '2026-11-22 10:01:00.000',
}

describe('readMessage', () => {
  it('should build the record of sealed facts as buildRecord does, IP hash included', async () => {
    const ipKey = await ipHashKey('consumer-ip-hash-key-0123')
    const sealed = sealFacts(KEYS, FACTS)
    // workerd hands a `bytes` message over as an ArrayBuffer.
    const read = await readMessage(sealed.slice().buffer, KEYS, ipKey)
    expect(read).toEqual({ kind: 'log', records: [await buildRecord(FACTS, ipKey)] })
    if (read.kind !== 'log') return
    expect(read.records[0]?.client_ip_hash).toMatch(/^[0-9a-f]{64}$/)
    expect(read.records[0]?.request_body).not.toContain('jane.doe@example.com')
  })

  it('should take a record built by the producer, and feedback, as they are', async () => {
    const record = await buildRecord(FACTS, undefined)
    expect(await readMessage(record, KEYS, undefined)).toEqual({ kind: 'log', records: [record] })
    expect(await readMessage(FEEDBACK, KEYS, undefined)).toEqual({
      kind: 'feedback',
      record: FEEDBACK,
    })
  })

  it('should name the key id of a message sealed under a key it does not hold', async () => {
    expect(await readMessage(sealFacts(OTHER, FACTS), KEYS, undefined)).toEqual({
      kind: 'unopened',
      keyId: 'lost',
      reason: 'unknown-key',
    })
  })

  it('should not open a tampered message', async () => {
    const sealed = sealFacts(KEYS, FACTS)
    sealed[sealed.length - 20] = (sealed[sealed.length - 20] ?? 0) ^ 0x80
    expect(await readMessage(sealed, KEYS, undefined)).toEqual({
      kind: 'unopened',
      keyId: 'k1',
      reason: 'tampered',
    })
  })

  it('should not open a sealed message without a keyring', async () => {
    expect(await readMessage(sealFacts(KEYS, FACTS), undefined, undefined)).toEqual({
      kind: 'unopened',
      keyId: 'k1',
      reason: 'FLOOPY_LOG_KEYS is not set',
    })
  })

  it('should keep, not read, a sealed payload that is not facts', async () => {
    const sealed = sealMessage(KEYS, new TextEncoder().encode('{"v":1,"facts":{"requestId":7}}'))
    expect(await readMessage(sealed, KEYS, undefined)).toEqual({
      kind: 'unopened',
      keyId: 'k1',
      reason: 'unreadable facts',
    })
  })

  it.each([
    ['bytes that are not sealed', new TextEncoder().encode('{"request_id":"x"}')],
    ['an object without a request id', { not: 'a record' }],
    ['text', 'hello'],
    ['nothing', null],
  ])('should find %s malformed', async (_, body) => {
    expect(await readMessage(body, KEYS, undefined)).toEqual({ kind: 'malformed' })
  })
})
