/**
 * @module `npm run logs:replay`: re-inserts the request log records that ended in the dead-letter
 * queue (the consumer gave up on them after `max_retries`, typically during a long ClickHouse
 * outage, or because they did not open) into ClickHouse, then acknowledges them. Feedback records
 * (`feedback/record.ts`) ride the same Queue and go back to their own table, `feedback`.
 *
 * The dead-letter queue has an HTTP pull consumer (`wrangler queues consumer http add
 * floopy-request-logs-dlq`); this command pulls batches with Cloudflare's Queues REST API
 * (`POST …/queues/<id>/messages/pull`, bodies of `json` and `bytes` messages arrive
 * base64-encoded), reads each message exactly as the consumer does (`src/logging/messages.ts`:
 * sealed raw facts are opened with `FLOOPY_LOG_KEYS` and built into records — assembled, scrubbed,
 * priced, the IP hashed with `FLOOPY_LOG_IP_HASH_KEY`), inserts each batch with the consumer's own
 * insert (same deduplication token scheme, same table — a record already present counts once),
 * and acknowledges the batch only after ClickHouse took it; a batch ClickHouse refuses is marked
 * for retry and the command stops with exit code 1. It runs until the queue is empty.
 *
 * A sealed message that does not open (its key is not in `FLOOPY_LOG_KEYS`, or it was tampered
 * with) is neither inserted nor acknowledged: it is handed back to the queue when the run ends,
 * the command names its key ids and exits with code 1. Restore the key (an older id may sit in
 * `FLOOPY_LOG_KEYS` beside the current one) and run again (`docs/logging.md`).
 *
 * Environment: CLOUDFLARE_ACCOUNT_ID, CLOUDFLARE_API_TOKEN (Queues Edit), FLOOPY_DLQ_ID (the
 * dead-letter queue's id), CLICKHOUSE_URL, CLICKHOUSE_USER, CLICKHOUSE_PASSWORD,
 * CLICKHOUSE_DATABASE (default `floopy`), FLOOPY_LOG_KEYS and FLOOPY_LOG_IP_HASH_KEY (the Worker's
 * values); CLOUDFLARE_API_BASE overrides the API's base URL.
 */
import { registerHooks } from 'node:module'
import type { FeedbackRecord } from '../src/feedback/record.ts'
import {
  batchToken,
  feedbackToken,
  insertFeedback,
  insertRecords,
  type ClickHouseConfig,
} from '../src/logging/clickhouse.ts'
import type { LogRecord } from '../src/logging/record.ts'

type PulledMessage = {
  id: string
  body: string
  lease_id: string
  attempts: number
  metadata?: Record<string, string>
}

type Env = Readonly<Record<string, string | undefined>>

const BATCH_SIZE = 100

const required = (env: Env, name: string): string => {
  const value = env[name]
  if (value === undefined || value === '') throw new Error(`${name} is not set`)
  return value
}

let hooked = false

/**
 * The Worker's own log modules, under plain Node. They import each other without an extension,
 * as the Worker's bundler allows; Node does not resolve those, so a resolve hook tries `.ts` for a
 * relative import that does not resolve as written. (Under vitest the bundler resolves them and
 * the hook is never asked.)
 */
export const loadLogModules = async () => {
  if (!hooked) {
    registerHooks({
      resolve(specifier, context, nextResolve) {
        try {
          return nextResolve(specifier, context)
        } catch (err) {
          const missing =
            err instanceof Error && 'code' in err && err.code === 'ERR_MODULE_NOT_FOUND'
          if (!missing || !/^\.\.?\//.test(specifier) || /\.[cm]?[jt]s$/.test(specifier)) throw err
          return nextResolve(`${specifier}.ts`, context)
        }
      },
    })
    hooked = true
  }
  const [messages, record, seal, facts] = await Promise.all([
    import('../src/logging/messages.ts'),
    import('../src/logging/record.ts'),
    import('../src/logging/seal.ts'),
    import('../src/logging/facts.ts'),
  ])
  return {
    readMessage: messages.readMessage,
    ipHashKey: record.ipHashKey,
    parseLogKeys: seal.parseLogKeys,
    isSealed: seal.isSealed,
    openAllFacts: facts.openAllFacts,
  }
}

const fromBase64 = (text: string): Uint8Array => Uint8Array.from(atob(text), (c) => c.charCodeAt(0))

/**
 * A pulled message's body as the consumer would get it: the bytes of a `bytes` message (sealed
 * facts), the parsed JSON of a `json` one (both arrive base64-encoded).
 */
export const decodeBody = (body: string, contentType?: string): unknown => {
  const bytes = fromBase64(body)
  // A sealed message starts with NUL, which no JSON text does.
  if (contentType === 'bytes' || (contentType === undefined && bytes[0] === 0)) return bytes
  return JSON.parse(new TextDecoder().decode(bytes))
}

export type ReplayResult = {
  replayed: number
  dropped: number
  batches: number
  /** Sealed messages that did not open: left in the queue. */
  unopened: number
}

export const replay = async (
  env: Env,
  log: (line: string) => void = console.log,
): Promise<ReplayResult> => {
  const api = `${env.CLOUDFLARE_API_BASE ?? 'https://api.cloudflare.com/client/v4'}/accounts/${required(env, 'CLOUDFLARE_ACCOUNT_ID')}/queues/${required(env, 'FLOOPY_DLQ_ID')}/messages`
  const headers = {
    authorization: `Bearer ${required(env, 'CLOUDFLARE_API_TOKEN')}`,
    'content-type': 'application/json',
  }
  const clickhouse: ClickHouseConfig = {
    url: required(env, 'CLICKHOUSE_URL'),
    username: env.CLICKHOUSE_USER ?? 'default',
    password: env.CLICKHOUSE_PASSWORD ?? '',
    database: env.CLICKHOUSE_DATABASE ?? 'floopy',
  }
  const modules = await loadLogModules()
  const keys =
    env.FLOOPY_LOG_KEYS === undefined || env.FLOOPY_LOG_KEYS === ''
      ? undefined
      : modules.parseLogKeys(env.FLOOPY_LOG_KEYS)
  const ipKey =
    env.FLOOPY_LOG_IP_HASH_KEY === undefined || env.FLOOPY_LOG_IP_HASH_KEY === ''
      ? undefined
      : await modules.ipHashKey(env.FLOOPY_LOG_IP_HASH_KEY)
  const call = async (action: 'pull' | 'ack', body: unknown): Promise<unknown> => {
    const res = await fetch(`${api}/${action}`, {
      method: 'POST',
      headers,
      body: JSON.stringify(body),
    })
    const json = (await res.json()) as { success?: boolean; result?: unknown; errors?: unknown }
    if (!res.ok || json.success !== true) {
      throw new Error(
        `Queues API ${action} failed (${String(res.status)}): ${JSON.stringify(json.errors ?? json)}`,
      )
    }
    return json.result
  }

  const result: ReplayResult = { replayed: 0, dropped: 0, batches: 0, unopened: 0 }
  /** Sealed messages that did not open, by message id: their latest lease, why, which key. */
  const unopened = new Map<string, { lease: string; keyId: string; reason: string }>()
  const release = async (): Promise<void> => {
    if (unopened.size === 0) return
    const retries = [...unopened.values()].map(({ lease }) => ({ lease_id: lease }))
    await call('ack', { acks: [], retries })
  }
  try {
    for (;;) {
      const pulled = (await call('pull', {
        batch_size: BATCH_SIZE,
        visibility_timeout_ms: 60_000,
      })) as {
        messages?: PulledMessage[]
      }
      const messages = pulled.messages ?? []
      // Empty, or only messages that did not open before (their lease ran out during a long run).
      if (messages.every((m) => unopened.has(m.id))) {
        for (const m of messages) {
          const known = unopened.get(m.id)
          if (known !== undefined) unopened.set(m.id, { ...known, lease: m.lease_id })
        }
        break
      }
      const records: LogRecord[] = []
      const logIds: string[] = []
      const feedback: FeedbackRecord[] = []
      const feedbackIds: string[] = []
      const taken: PulledMessage[] = []
      let malformed = 0
      for (const message of messages) {
        let body: unknown
        try {
          body = decodeBody(message.body, message.metadata?.['CF-Content-Type'])
        } catch {
          body = undefined
        }
        const read = await modules.readMessage(body, keys, ipKey)
        if (read.kind === 'unopened') {
          const { keyId = '?', reason } = read
          unopened.set(message.id, { lease: message.lease_id, keyId, reason })
          continue
        }
        unopened.delete(message.id)
        taken.push(message)
        if (read.kind === 'log') {
          records.push(...read.records)
          logIds.push(message.id)
        } else if (read.kind === 'feedback') {
          feedback.push(read.record)
          feedbackIds.push(message.id)
        } else malformed++
      }
      if (taken.length === 0) continue
      try {
        if (records.length > 0) {
          await insertRecords(clickhouse, records, await batchToken(logIds))
        }
        if (feedback.length > 0) {
          await insertFeedback(clickhouse, feedback, await feedbackToken(feedbackIds))
        }
      } catch (err) {
        await call('ack', { acks: [], retries: taken.map((m) => ({ lease_id: m.lease_id })) })
        throw new Error(
          `ClickHouse refused a batch of ${String(records.length)} records; they stay in the ` +
            `dead-letter queue: ${err instanceof Error ? err.message : String(err)}`,
          { cause: err },
        )
      }
      await call('ack', { acks: taken.map((m) => ({ lease_id: m.lease_id })), retries: [] })
      result.replayed += records.length + feedback.length
      result.dropped += malformed
      result.batches += 1
      log(
        `replayed ${String(records.length + feedback.length)} records${malformed > 0 ? `, dropped ${String(malformed)} malformed` : ''}`,
      )
    }
  } finally {
    await release()
  }
  result.unopened = unopened.size
  if (unopened.size > 0) {
    const ids = [...new Set([...unopened.values()].map(({ keyId }) => keyId))].join(', ')
    const reasons = [...new Set([...unopened.values()].map(({ reason }) => reason))].join(', ')
    log(
      `left ${String(unopened.size)} sealed messages in the dead-letter queue: they do not open ` +
        `(key ids: ${ids}; ${reasons}). Put their key back in FLOOPY_LOG_KEYS and run again.`,
    )
  }
  log(`done: ${String(result.replayed)} records replayed in ${String(result.batches)} batches`)
  return result
}

if (import.meta.url === `file://${process.argv[1] ?? ''}`) {
  try {
    const result = await replay(process.env)
    if (result.unopened > 0) process.exitCode = 1
  } catch (err) {
    console.error(err instanceof Error ? err.message : String(err))
    process.exitCode = 1
  }
}
