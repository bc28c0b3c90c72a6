/**
 * @module The benchmark's Queue stand-in (bench/log-sink.ts) against workerd's real Queue producer
 * binding: `send` and `sendBatch` resolve with the metadata the Queue service answers, each message
 * is decoded in the format it was sent in and counted as one record, and a stand-in that is down
 * makes the binding reject — the same outcomes the gateway's request log sees. Sealed raw facts
 * (`bytes`, what a gateway with `FLOOPY_LOG_KEYS` sends) are opened and counted by the request id
 * they carry; one sealed under a keyring the sink does not hold is a problem, never a record.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BENCH_LOG_KEYS, startLogSink, type LogSink } from '../../bench/log-sink.ts'
import { startGateway, type WorkerdGateway } from '../../scripts/workerd.ts'
import { sealFacts } from '../../src/logging/facts.ts'
import type { RequestFacts } from '../../src/logging/record.ts'
import { parseLogKeys, type LogKeys } from '../../src/logging/seal.ts'

/** A Worker that sends what the request's JSON body asks for and answers with what the binding
 * resolved to, or the message it rejected with. */
const producer = `
const record = (id, tag) => ({ request_id: id, user_agent: tag })
export default {
  async fetch(request, env) {
    if (request.method !== 'POST') return new Response('ok')
    const { call, tag, ids, contentType, sealed } = await request.json()
    try {
      const result =
        call === 'sealed'
          ? await env.LOG_QUEUE.sendBatch(
              sealed.map((text) => ({
                body: Uint8Array.from(atob(text), (c) => c.charCodeAt(0)),
                contentType: 'bytes',
              })),
            )
          : call === 'send'
          ? await env.LOG_QUEUE.send(record(ids[0], tag), contentType ? { contentType } : undefined)
          : await env.LOG_QUEUE.sendBatch(
              ids.map((id) => ({ body: record(id, tag), ...(contentType ? { contentType } : {}) })),
            )
      return Response.json({ result })
    } catch (error) {
      return Response.json({ error: String(error) })
    }
  },
}
`

type Sent = { result?: unknown; error?: string }

/** Raw facts of one request, as a gateway with `FLOOPY_LOG_KEYS` seals them. */
const facts = (requestId: string, userAgent: string): RequestFacts => ({
  requestId,
  clientRequestId: undefined,
  startedAt: 1,
  endedAt: 2,
  orgId: 'org_bench',
  keyId: 'key_bench',
  endpoint: 'chat',
  provider: 'openai',
  modelRequested: 'gpt-4o-mini',
  modelServed: 'gpt-4o-mini',
  status: 200,
  errorCode: '',
  stream: false,
  upstreamStartedAt: undefined,
  upstreamHeadersAt: undefined,
  attempts: 1,
  usage: undefined,
  userAgent,
  clientIp: undefined,
  requestBody: '{"messages":[{"role":"user","content":"hi"}]}',
  response: undefined,
  bodies: true,
  end: 'done',
})

/** Base64 of the sealed facts of `ids`, tagged `tag`, for the producer Worker to send as bytes. */
const sealedAs = (keys: LogKeys, tag: string, ids: readonly string[]): string[] =>
  ids.map((id) => Buffer.from(sealFacts(keys, facts(id, tag))).toString('base64'))

describe('bench/log-sink.ts behind a workerd Queue binding', () => {
  let scratch: string
  let sink: LogSink
  let worker: WorkerdGateway

  const ask = async (body: Record<string, unknown>): Promise<Sent> => {
    const response = await fetch(worker.url, { method: 'POST', body: JSON.stringify(body) })
    return (await response.json()) as Sent
  }

  beforeAll(async () => {
    scratch = await mkdtemp(path.join(tmpdir(), 'log-sink-test-'))
    const bundle = path.join(scratch, 'producer.js')
    await writeFile(bundle, producer)
    sink = await startLogSink()
    worker = await startGateway({
      bundle,
      bindings: {},
      queues: { LOG_QUEUE: sink.address },
    })
  })

  afterAll(async () => {
    await worker.close()
    await sink.close()
    await rm(scratch, { recursive: true, force: true })
  })

  it('should resolve sendBatch with the Queue metadata and count each message as a record', async () => {
    const sent = await ask({ call: 'sendBatch', tag: 'batch', ids: ['b1', 'b2', 'b3'] })
    expect(sent.error).toBeUndefined()
    expect(sent.result).toEqual({ metadata: { metrics: { backlogCount: 0, backlogBytes: 0 } } })
    expect(sink.records('batch')).toBe(3)
  })

  it.each(['json', 'v8', undefined])(
    'should decode send and sendBatch messages sent with content type %s',
    async (contentType) => {
      const tag = `type-${String(contentType)}`
      const one = await ask({ call: 'send', tag, ids: [`${tag}-1`], contentType })
      const two = await ask({ call: 'sendBatch', tag, ids: [`${tag}-2`, `${tag}-3`], contentType })
      expect(one.error).toBeUndefined()
      expect(two.error).toBeUndefined()
      expect(sink.records(tag)).toBe(3)
    },
  )

  it('should open sealed facts sent as bytes and count the request each carries', async () => {
    const keys = parseLogKeys(BENCH_LOG_KEYS)
    const sent = await ask({ call: 'sealed', sealed: sealedAs(keys, 'sealed', ['s1', 's2', 's3']) })
    expect(sent.error).toBeUndefined()
    expect(sink.records('sealed')).toBe(3)
  })

  it('should count no record, and report a problem, for facts it cannot open', async () => {
    const other = parseLogKeys(
      JSON.stringify({ current: 'other', keys: { other: Buffer.alloc(32, 3).toString('base64') } }),
    )
    const before = sink.problems().length
    const sent = await ask({ call: 'sealed', sealed: sealedAs(other, 'unopened', ['u1']) })
    expect(sent.error).toBeUndefined()
    expect(sink.records('unopened')).toBe(0)
    expect(sink.problems().slice(before).join('\n')).toMatch(
      /not a log record.*sealed under key .*other/,
    )
  })

  it('should report a record delivered twice and count it once', async () => {
    await ask({ call: 'sendBatch', tag: 'twice', ids: ['dup', 'dup'] })
    expect(sink.records('twice')).toBe(1)
    expect(sink.problems()).toContain('record dup delivered twice')
  })

  it('should wait for records up to the expected count, and stop waiting once they stop', async () => {
    // Waits of a minute that a settle returning at the count never reaches, however busy the
    // machine: it returns at once, one that waited for quiet would take the whole minute.
    const started = Date.now()
    const minute = { quietMs: 60_000, lostAfterMs: 60_000, limitMs: 120_000 }
    expect(await sink.settle('batch', { min: 3, max: 3 }, minute)).toBe(3)
    expect(Date.now() - started).toBeLessThan(30_000)
    expect(await sink.settle('never-sent', { min: 1, max: 1 }, { lostAfterMs: 200 })).toBe(0)
  })

  it('should make the binding reject while the stand-in is down', async () => {
    sink.setDown(true)
    try {
      const sent = await ask({ call: 'sendBatch', tag: 'down', ids: ['d1'] })
      expect(sent.error).toMatch(/Error/)
      expect(sink.records('down')).toBe(0)
    } finally {
      sink.setDown(false)
    }
  })
})
