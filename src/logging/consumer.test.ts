/**
 * The Queue consumer with sealed messages (without ClickHouse: the access log shows what it would
 * insert; `test/worker/request-log.test.ts` and `test/e2e/feedback-clickhouse.test.ts` insert for
 * real). Sealed facts are opened and built into records, and acknowledged; a message that does
 * not open is never taken: it is retried with backoff — so the Queue dead-letters it after its
 * retries — with one throttled alarm naming its key id and nothing of its content.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { TEST_DEV_API_KEY } from '../../test/support/bindings'
import { queuedFacts } from '../../test/support/log-facts'
import type { Bindings } from '../env'
import { consumeLogBatch, type QueueMessage } from './consumer'
import { sealFacts } from './facts'
import { buildRecord, ipHashKey, metadataLine, type RequestFacts } from './record'
import { parseLogKeys } from './seal'

const key = (seed: number): string =>
  btoa(String.fromCharCode(...Array.from({ length: 32 }, (_, i) => (seed + i * 13) % 256)))

const LOG_KEYS = JSON.stringify({ current: 'k2', keys: { k1: key(1), k2: key(2) } })
const IP_KEY = 'consumer-test-ip-hash-key'

/** The Worker's bindings for the consumer: a fresh object each (config is memoised per object). */
const bindings = (logKeys: string | null = LOG_KEYS): Bindings => ({
  FLOOPY_DEV_API_KEY: TEST_DEV_API_KEY,
  FLOOPY_ACCESS_LOG: 'true',
  FLOOPY_LOG_IP_HASH_KEY: IP_KEY,
  ...(logKeys === null ? {} : { FLOOPY_LOG_KEYS: logKeys }),
})

const facts = (requestId: string): RequestFacts =>
  queuedFacts(requestId, 'card 4111 1111 1111 1111')

type Fake = QueueMessage & { acked: number; retried: { delaySeconds?: number }[] }

const message = (id: string, body: unknown, attempts = 1): Fake => {
  const fake: Fake = {
    id,
    body,
    attempts,
    acked: 0,
    retried: [],
    ack: () => {
      fake.acked++
    },
    retry: (options = {}) => {
      fake.retried.push(options)
    },
  }
  return fake
}

/** Sealed as workerd hands a `bytes` message to the consumer: an ArrayBuffer. */
const sealed = (keys: string, requestId: string): ArrayBuffer =>
  sealFacts(parseLogKeys(keys), facts(requestId)).slice().buffer

afterEach(() => {
  vi.restoreAllMocks()
})

describe('consumeLogBatch with sealed messages', () => {
  it('should build the records of sealed facts, under the current key and an older one', async () => {
    const lines = vi.spyOn(console, 'log').mockImplementation(() => undefined)
    const older = JSON.stringify({ current: 'k1', keys: { k1: key(1) } })
    const batch = [message('m1', sealed(LOG_KEYS, 'req-a')), message('m2', sealed(older, 'req-b'))]
    await consumeLogBatch({ queue: 'floopy-request-logs', messages: batch }, bindings())
    expect(batch.map((m) => [m.acked, m.retried.length])).toEqual([
      [1, 0],
      [1, 0],
    ])
    const ipKey = await ipHashKey(IP_KEY)
    expect(lines.mock.calls.map(([line]) => String(line))).toEqual([
      metadataLine(await buildRecord(facts('req-a'), ipKey)),
      metadataLine(await buildRecord(facts('req-b'), ipKey)),
    ])
  })

  it('should retry, never take, a message sealed under a key it does not hold', async () => {
    const lines = vi.spyOn(console, 'log').mockImplementation(() => undefined)
    const alarm = vi.spyOn(console, 'error').mockImplementation(() => undefined)
    // Alarm lines are throttled per isolate: a clock far ahead lets this one through.
    vi.spyOn(Date, 'now').mockReturnValue(Date.UTC(2101, 0, 1))
    const lost = JSON.stringify({ current: 'retired', keys: { retired: key(9) } })
    const unknown = message('m1', sealed(lost, 'req-lost'), 3)
    const known = message('m2', sealed(LOG_KEYS, 'req-kept'))
    await consumeLogBatch({ queue: 'floopy-request-logs', messages: [unknown, known] }, bindings())
    expect(unknown.acked).toBe(0)
    expect(unknown.retried).toEqual([{ delaySeconds: 40 }])
    expect(known.acked).toBe(1)
    expect(lines).toHaveBeenCalledTimes(1)
    expect(String(lines.mock.calls[0]?.[0])).toContain('req-kept')
    expect(alarm).toHaveBeenCalledTimes(1)
    const line = String(alarm.mock.calls[0]?.[0])
    expect(JSON.parse(line)).toMatchObject({
      msg: 'request log messages could not be opened: retried, then dead-lettered',
      messages: 1,
      keyIds: ['retired'],
      reasons: ['unknown-key'],
    })
    expect(line).not.toContain('req-lost')
    expect(line).not.toContain('4111')
  })

  it('should retry sealed messages when the consumer has no keyring', async () => {
    vi.spyOn(console, 'error').mockImplementation(() => undefined)
    const one = message('m1', sealed(LOG_KEYS, 'req-a'))
    await consumeLogBatch({ queue: 'q', messages: [one] }, bindings(null))
    expect(one.acked).toBe(0)
    expect(one.retried).toHaveLength(1)
  })
})
