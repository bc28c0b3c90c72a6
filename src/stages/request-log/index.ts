/**
 * @module The request log's producer: every `/v1/*` request leaves one record, sent after the
 * response is on its way and never waited for.
 *
 * After the rest of the pipeline has answered, this stage hands the record's making to
 * `waitUntil`: it waits for a streamed body to end, builds and scrubs the record
 * (`logging/record.ts`) and sends it to the `LOG_QUEUE` Queue, whose consumer batch-inserts into
 * ClickHouse (`logging/consumer.ts`). A failure here is logged and dropped: the response has been
 * sent, and the Queue itself is what keeps records when ClickHouse is down.
 *
 * Without a `LOG_QUEUE` binding (plain workerd, a single-instance setup) the record goes to the
 * console when `FLOOPY_ACCESS_LOG=true`, without bodies; otherwise nowhere.
 */
import type { Context, MiddlewareHandler } from 'hono'
import type { Bindings, GatewayEnv } from '../../env'
import { GatewayError } from '../../errors'
import { alarm, describeError } from '../../logging/alarm'
import { BatchSendError, createBatcher } from '../../logging/batcher'
import { buildRecord, ipHashKey, metadataLine, type LogRecord } from '../../logging/record'
import type { Tenant } from '../../tenancy/tenant'
import { afterResponse } from '../after-response'
import type { Exchange } from '../dispatch'
import type { ParsedRequest } from '../parse-request'

const keys = new Map<string, Promise<CryptoKey>>()

const keyFor = (secret: string | undefined): Promise<CryptoKey> | undefined => {
  if (secret === undefined) return undefined
  let key = keys.get(secret)
  if (key === undefined) {
    key = ipHashKey(secret)
    keys.set(secret, key)
  }
  return key
}

type LogQueue = NonNullable<Bindings['LOG_QUEUE']>

type AddRecord = (record: LogRecord, bytes: number) => Promise<void> | undefined

const batchers = new WeakMap<LogQueue, AddRecord>()

/** One batcher per Queue binding (per isolate): records of concurrent requests leave together. */
const batcherFor = (queue: LogQueue): AddRecord => {
  let batcher = batchers.get(queue)
  if (batcher === undefined) {
    batcher = createBatcher<LogRecord>(async (records) => {
      await queue.sendBatch(records.map((body) => ({ body, contentType: 'json' as const })))
    })
    batchers.set(queue, batcher)
  }
  return batcher
}

/** A record's size as a Queue message, near enough: its bodies dominate. */
const approximateBytes = (record: LogRecord): number =>
  2 * (record.request_body.length + record.response_body.length) + 2048

const produce = async (c: Context<GatewayEnv>, startedAt: number): Promise<void> => {
  const exchange = c.get('exchange') as Exchange | undefined
  const ended = exchange === undefined ? undefined : await exchange.ended
  // Unset when the request was refused before authentication or parsing.
  const tenant = c.get('tenant') as Tenant | undefined
  const request = c.get('request') as ParsedRequest | undefined
  const config = c.get('config')
  const error = c.error instanceof GatewayError ? c.error : undefined
  const record = await buildRecord(
    {
      requestId: c.get('logId'),
      clientRequestId: c.get('clientRequestId'),
      startedAt,
      endedAt: Date.now(),
      orgId: tenant?.orgId ?? '',
      keyId: tenant?.keyId ?? '',
      endpoint: request?.kind ?? '',
      provider: exchange?.target.provider.spec.id ?? '',
      modelRequested: request?.model ?? '',
      modelServed: exchange?.target.model ?? '',
      status: c.res.status,
      errorCode:
        error?.code ??
        (ended !== undefined && ended.outcome.end !== 'done' ? ended.outcome.end : ''),
      stream: request?.stream ?? false,
      upstreamStartedAt: exchange?.startedAt,
      upstreamHeadersAt: exchange?.headersAt,
      attempts: c.get('attempts') ?? 0,
      failedAttempts: c.get('failedAttempts'),
      usage: ended?.outcome.usage,
      userAgent: c.req.header('user-agent') ?? '',
      clientIp: c.req.header('cf-connecting-ip'),
      requestBody: c.get('rawBody'),
      response: ended?.captured,
      bodies: c.get('logBodies') && tenant?.org.features['metadata_only_logging'] !== true,
      end: ended?.outcome.end,
    },
    await keyFor(config.logIpHashKey),
  )
  const queue = c.env.LOG_QUEUE
  if (queue !== undefined) {
    await batcherFor(queue)(record, approximateBytes(record))
  } else if (config.accessLog) {
    console.log(metadataLine(record))
  }
}

export const requestLog = (): MiddlewareHandler<GatewayEnv> =>
  async function requestLog(c, next) {
    const startedAt = Date.now()
    const queued = c.env.LOG_QUEUE !== undefined
    // Bodies are copied only when a record will carry them (decided again per organisation below).
    c.set('logBodies', queued)
    await next()
    if (!queued && !c.get('config').accessLog) return
    afterResponse(
      c,
      produce(c, startedAt).catch((err: unknown) => {
        alarm('request log records lost', {
          records: err instanceof BatchSendError ? err.records : 1,
          error: describeError(err instanceof BatchSendError ? err.cause : err),
        })
      }),
    )
  }

export type { LogRecord }
