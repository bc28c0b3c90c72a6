/**
 * The request log's producer stage, with a stand-in Queue.
 *
 * It registers one tap on the provider's answer, asking for the answer's head (`CAPTURE_LIMIT`
 * bytes) unless the organisation logs metadata only or there is no Queue to take bodies (0). After
 * the response it hands the record's making to `waitUntil`: for an answer handed to the client it
 * waits for the tap's end (usage, end state, head), for anything else it does not; the facts carry
 * what the stages wrote in the trace (log id, client id, attempts, failures, cache, firewall,
 * prompt) and the error the request ended with. With `FLOOPY_LOG_KEYS` they go to the Queue raw —
 * unscrubbed, unassembled, unpriced — and sealed, as `bytes`, within a message's size; the
 * records below are what the consumer builds of them. Without it the record is built and scrubbed
 * here and sent as JSON, with one warning. Without a Queue a metadata line goes to the console
 * when the access log is on, or nothing anywhere. A Queue failure is logged, never thrown.
 */
import { Hono, type ExecutionContext } from 'hono'
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { StageEnv } from '../../env'
import { GatewayError, toGatewayError } from '../../errors'
import { MESSAGE_LIMIT, openAllFacts, openFacts } from '../../logging/facts'
import { readMessage } from '../../logging/messages'
import { CAPTURE_LIMIT, buildRecord, type LogRecord } from '../../logging/record'
import { isSealed, messageBytes, parseLogKeys, sealedKeyId } from '../../logging/seal'
import type { Tenant } from '../../tenancy/tenant'
import {
  newTrace,
  type AnswerEnd,
  type ParsedRequest,
  type ResponseTap,
  type Trace,
} from '../../types'
import type { AuthVariables } from '../authenticate'
import type { BodyVariables } from '../body-limit'
import type { ParsedVariables } from '../parse-request'
import { requestLog } from '.'
import { operatorTarget, testTenant } from '../../../test/support/unit'

const GPT = operatorTarget('openai', 'gpt-4o-mini', 'sk-operator')

const RAW_BODY = '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hello"}]}'
const ANSWER = '{"id":"chatcmpl-1","object":"chat.completion","choices":[]}'

const request: ParsedRequest = {
  kind: 'chat',
  body: JSON.parse(RAW_BODY) as Record<string, unknown>,
  model: 'gpt-4o-mini',
  stream: false,
  includeUsage: false,
}

const tenant = (features: Record<string, unknown> = {}): Tenant => testTenant({ features })

const ended: AnswerEnd = {
  outcome: {
    usage: {
      promptTokens: 11,
      completionTokens: 7,
      totalTokens: 18,
      cachedTokens: 0,
      reasoningTokens: 0,
    },
    end: 'done',
  },
  head: { text: ANSWER, truncated: false },
}

type Env = StageEnv<Partial<BodyVariables & AuthVariables & ParsedVariables>>

const LOG_KEYS = JSON.stringify({
  current: 'log-1',
  keys: { 'log-1': btoa(String.fromCharCode(...Array.from({ length: 32 }, (_, i) => 200 - i))) },
})
const KEYS = parseLogKeys(LOG_KEYS)

type Sent = { body: unknown; contentType?: string }

/** What the consumer makes of a message: its records, built from sealed facts or sent as is. */
const recordsOf = async ({ body }: Sent): Promise<readonly LogRecord[]> => {
  const read = await readMessage(body, KEYS, undefined)
  if (read.kind !== 'log') throw new Error(`not a log message: ${read.kind}`)
  return read.records
}

type RigOptions = {
  readonly queue?: boolean
  /** `FLOOPY_LOG_KEYS` in the bindings (default: yes). */
  readonly sealed?: boolean
  /** The request's raw body (default `RAW_BODY`). */
  readonly rawBody?: string
  readonly accessLog?: boolean
  /** The tenant the later stages find (none: the request was refused before that). */
  readonly tenant?: Tenant | undefined
  readonly clientRequestId?: string
  /** Stands for the stages after this one: reads and writes the trace, answers or throws. */
  readonly handler: (trace: Trace, taps: ResponseTap[]) => Response
}

const rig = (options: RigOptions) => {
  const sent: Sent[] = []
  const sendBatch = vi.fn((messages: Iterable<Sent>) => {
    for (const message of messages) sent.push(message)
    return Promise.resolve()
  })
  const queue = options.queue === false ? undefined : { sendBatch }
  const trace = newTrace('log-1', options.clientRequestId)
  const taps: ResponseTap[] = []
  const app = new Hono<Env>()
  app.use(async (c, next) => {
    c.set('requestId', options.clientRequestId ?? 'log-1')
    c.set('trace', trace)
    c.set('taps', taps)
    await next()
  })
  app.use(requestLog({ queue, accessLog: options.accessLog ?? false, ipHashKey: undefined }))
  app.use(async (c, next) => {
    c.set('rawBody', options.rawBody ?? RAW_BODY)
    if (options.tenant !== undefined) c.set('tenant', options.tenant)
    c.set('request', request)
    await next()
  })
  app.post('/v1/chat/completions', () => options.handler(trace, taps))
  app.onError((err) => toGatewayError(err).toResponse(undefined))
  const waited: Promise<unknown>[] = []
  const ctx: ExecutionContext = {
    waitUntil: (work) => {
      waited.push(work)
    },
    passThroughOnException: () => undefined,
    props: {},
  }
  const post = async (): Promise<Response> =>
    app.request(
      '/v1/chat/completions',
      { method: 'POST', headers: { 'user-agent': 'OpenAI/JS 5.0.0' } },
      options.sealed === false ? {} : { FLOOPY_LOG_KEYS: LOG_KEYS },
      ctx,
    )
  /** Waits for the work handed to `waitUntil`; answers the records made of what the Queue got. */
  const settle = async (): Promise<LogRecord[]> => {
    await Promise.all(waited)
    return (await Promise.all(sent.map(recordsOf))).flat()
  }
  return { post, settle, sendBatch, sent, taps, trace, waited }
}

/** A handler for a provider that answered: the exchange is marked answered. */
const answered = (trace: Trace): Response => {
  trace.exchange = { target: GPT, startedAt: Date.now(), headersAt: Date.now(), answered: true }
  trace.attempts = 1
  return new Response(ANSWER, { status: 200, headers: { 'content-type': 'application/json' } })
}

const only = (records: readonly LogRecord[]): LogRecord => {
  expect(records).toHaveLength(1)
  const [record] = records
  if (record === undefined) throw new Error('no record was sent')
  return record
}

afterEach(() => {
  vi.restoreAllMocks()
})

describe('requestLog', () => {
  describe('its tap', () => {
    it('should register one tap asking for the head of the answer', async () => {
      let tapCount: number | undefined
      let headBytes: number | undefined
      const r = rig({
        tenant: tenant(),
        handler: (trace, taps) => {
          tapCount = taps.length
          headBytes = taps[0]?.headBytes
          return answered(trace)
        },
      })
      await r.post()
      expect(tapCount).toBe(1)
      expect(headBytes).toBe(CAPTURE_LIMIT)
      r.taps[0]?.end(ended)
      await r.settle()
    })

    it('should ask for no bytes for an organisation that logs metadata only', async () => {
      let headBytes: number | undefined
      const r = rig({
        // The tenant is set after the tap was registered: the choice is read when it is used.
        tenant: tenant({ metadata_only_logging: true }),
        handler: (trace, taps) => {
          headBytes = taps[0]?.headBytes
          return answered(trace)
        },
      })
      await r.post()
      expect(headBytes).toBe(0)
      r.taps[0]?.end(ended)
      await r.settle()
    })

    it('should ask for no bytes without a Queue to take them', async () => {
      const line = vi.spyOn(console, 'log').mockImplementation(() => undefined)
      let headBytes: number | undefined
      const r = rig({
        queue: false,
        accessLog: true,
        tenant: tenant(),
        handler: (trace, taps) => {
          headBytes = taps[0]?.headBytes
          return answered(trace)
        },
      })
      await r.post()
      expect(headBytes).toBe(0)
      r.taps[0]?.end(ended)
      await r.settle()
      expect(line).toHaveBeenCalledTimes(1)
    })
  })

  describe('the record', () => {
    it("should wait for an answered exchange's end and carry its usage and head", async () => {
      const r = rig({ tenant: tenant(), handler: answered })
      const res = await r.post()
      expect(res.status).toBe(200)
      expect(r.waited).toHaveLength(1)
      // The answer's body ends only now, after the response went out.
      r.taps[0]?.end(ended)
      const record = only(await r.settle())
      expect(record).toMatchObject({
        request_id: 'log-1',
        org_id: 'org_1',
        key_id: 'key_1',
        endpoint: 'chat',
        provider: 'openai',
        model_requested: 'gpt-4o-mini',
        model_served: 'gpt-4o-mini',
        status: 200,
        error_code: '',
        attempts: 1,
        prompt_tokens: 11,
        completion_tokens: 7,
        user_agent: 'OpenAI/JS 5.0.0',
        request_body: RAW_BODY,
        response_body: ANSWER,
      })
      expect(record.metadata.end).toBe('done')
    })

    it('should record how an answer that broke off ended', async () => {
      const r = rig({ tenant: tenant(), handler: answered })
      await r.post()
      r.taps[0]?.end({ outcome: { usage: undefined, end: 'interrupted' }, head: undefined })
      const record = only(await r.settle())
      expect(record.error_code).toBe('interrupted')
      expect(record.metadata.end).toBe('interrupted')
    })

    it('should keep no bodies for an organisation that logs metadata only', async () => {
      const r = rig({ tenant: tenant({ metadata_only_logging: true }), handler: answered })
      await r.post()
      r.taps[0]?.end(ended)
      const record = only(await r.settle())
      expect(record.request_body).toBe('')
      expect(record.response_body).toBe('')
      expect(record.prompt_tokens).toBe(11)
    })

    it('should not wait for a tap when the provider did not answer', async () => {
      const r = rig({
        tenant: tenant(),
        handler: (trace) => {
          trace.exchange = { target: GPT, startedAt: Date.now(), answered: false }
          trace.attempts = 1
          throw new GatewayError('PROVIDER_ERROR', 'openai: upstream 503', { status: 503 })
        },
      })
      const res = await r.post()
      expect(res.status).toBe(503)
      // Nobody ends the tap: the record is made all the same.
      const record = only(await r.settle())
      expect(record).toMatchObject({
        status: 503,
        error_code: 'PROVIDER_ERROR',
        provider: 'openai',
        attempts: 1,
        prompt_tokens: 0,
        response_body: '',
      })
      expect(record.metadata.end).toBe('provider_error')
    })

    it('should record a request refused before any provider was tried', async () => {
      const r = rig({
        tenant: undefined,
        handler: () => {
          throw new GatewayError('INVALID_API_KEY', 'Invalid API key.')
        },
      })
      expect((await r.post()).status).toBe(401)
      const record = only(await r.settle())
      expect(record).toMatchObject({
        status: 401,
        error_code: 'INVALID_API_KEY',
        org_id: '',
        key_id: '',
        provider: '',
        attempts: 0,
      })
      expect(record.metadata.end).toBeUndefined()
    })

    it('should carry what the stages recorded in the trace', async () => {
      const r = rig({
        tenant: tenant(),
        clientRequestId: 'client-7',
        handler: (trace) => {
          trace.cache = 'MISS'
          trace.firewall = 'SAFE'
          trace.prompt = { id: 'welcome', version: 3 }
          trace.failedAttempts.push('anthropic/claude-sonnet-4: 503 PROVIDER_ERROR')
          const res = answered(trace)
          trace.attempts = 2
          return res
        },
      })
      await r.post()
      r.taps[0]?.end(ended)
      const record = only(await r.settle())
      expect(record).toMatchObject({
        request_id: 'log-1',
        attempts: 2,
        cache_status: 'MISS',
        firewall_verdict: 'SAFE',
        prompt_id: 'welcome',
        prompt_version: 3,
      })
      expect(record.metadata).toMatchObject({
        client_request_id: 'client-7',
        failed_attempts: 'anthropic/claude-sonnet-4: 503 PROVIDER_ERROR',
      })
    })

    it("should send each request's raw facts sealed, as bytes, unscrubbed and unpriced", async () => {
      const rawBody = JSON.stringify({
        model: 'gpt-4o-mini',
        messages: [
          { role: 'user', content: 'I am jane.doe@example.com, card 4111 1111 1111 1111' },
        ],
      })
      const r = rig({ tenant: tenant(), rawBody, handler: answered })
      await r.post()
      r.taps[0]?.end(ended)
      const [record] = await r.settle()
      expect(r.sendBatch).toHaveBeenCalledTimes(1)
      expect(r.sent.map((m) => m.contentType)).toEqual(['bytes'])
      const bytes = messageBytes(r.sent[0]?.body)
      if (bytes === undefined) throw new Error('not bytes')
      expect(isSealed(bytes)).toBe(true)
      expect(sealedKeyId(bytes)).toBe('log-1')
      // Nothing of the body can be read on the Queue…
      const visible = new TextDecoder('latin1').decode(bytes)
      for (const secret of ['jane.doe', '4111', 'gpt-4o-mini', 'org_1']) {
        expect(visible).not.toContain(secret)
      }
      // …and what is sealed is the raw facts: the producer did not scrub, assemble or price.
      const facts = openFacts(KEYS, bytes)
      expect(facts).toMatchObject({
        requestId: 'log-1',
        requestBody: rawBody,
        response: { text: ANSWER, truncated: false },
        usage: ended.outcome.usage,
      })
      expect(facts).not.toHaveProperty('cost_usd')
      // The consumer builds from them the record the producer used to.
      expect(record).toEqual(await buildRecord(facts, undefined))
      expect(record?.request_body).toContain('[REDACTED:email]')
      expect(record?.cost_usd).toBe('0.000005850')
    })

    it('should seal the records of requests that share a batch into one message', async () => {
      const r = rig({ tenant: tenant(), handler: answered })
      for (let i = 0; i < 3; i++) {
        await r.post()
        r.taps[i]?.end(ended)
      }
      const records = await r.settle()
      expect(r.sendBatch).toHaveBeenCalledTimes(1)
      expect(r.sent.map((m) => m.contentType)).toEqual(['bytes'])
      expect(records).toHaveLength(3)
      const bytes = messageBytes(r.sent[0]?.body)
      if (bytes === undefined) throw new Error('not bytes')
      expect(openAllFacts(KEYS, bytes).map((facts) => facts.requestBody)).toEqual([
        RAW_BODY,
        RAW_BODY,
        RAW_BODY,
      ])
    })

    it('should log an answer that ended before the response now, keeping alive only the batch opener', async () => {
      // A JSON answer has ended by the time the response leaves: its facts go to the batch at once.
      const endedAnswer = (trace: Trace, taps: ResponseTap[]): Response => {
        const res = answered(trace)
        taps.at(-1)?.end(ended)
        return res
      }
      const r = rig({ tenant: tenant(), handler: endedAnswer })
      for (let i = 0; i < 3; i++) await r.post()
      // Only the request that opened the batch waits for its send; the others are done.
      expect(r.waited).toHaveLength(1)
      const records = await r.settle()
      expect(r.sendBatch).toHaveBeenCalledTimes(1)
      expect(records).toHaveLength(3)
      expect(records[2]).toMatchObject({ request_id: 'log-1', completion_tokens: 7, status: 200 })
    })

    it('should keep a message within the Queue limit when both bodies are large', async () => {
      const big = JSON.stringify({ messages: [{ role: 'user', content: '"x"\n'.repeat(80_000) }] })
      const r = rig({ tenant: tenant(), rawBody: big, handler: answered })
      await r.post()
      r.taps[0]?.end({
        ...ended,
        head: {
          text: `{"choices":[{"message":{"content":"${'\\"y\\" '.repeat(9_000)}`,
          truncated: true,
        },
      })
      const [record] = await r.settle()
      const bytes = messageBytes(r.sent[0]?.body)
      expect(bytes?.byteLength).toBeLessThanOrEqual(MESSAGE_LIMIT)
      expect(record?.metadata).toMatchObject({
        request_body_truncated: 'true',
        response_body_truncated: 'true',
      })
    })

    it('should send no body for an organisation that logs metadata only', async () => {
      const r = rig({ tenant: tenant({ metadata_only_logging: true }), handler: answered })
      await r.post()
      r.taps[0]?.end(ended)
      await r.settle()
      const bytes = messageBytes(r.sent[0]?.body)
      if (bytes === undefined) throw new Error('not bytes')
      expect(openFacts(KEYS, bytes)).toMatchObject({ bodies: false, requestBody: '' })
    })

    it('should log, not throw, when the Queue refuses the record', async () => {
      const alarm = vi.spyOn(console, 'error').mockImplementation(() => undefined)
      // Alarm lines are throttled per isolate: a clock far ahead lets this one through.
      vi.spyOn(Date, 'now').mockReturnValue(Date.UTC(2100, 0, 1))
      const r = rig({ tenant: tenant(), handler: answered })
      r.sendBatch.mockImplementation(() => Promise.reject(new Error('queue unavailable')))
      expect((await r.post()).status).toBe(200)
      r.taps[0]?.end(ended)
      await expect(r.settle()).resolves.toEqual([])
      expect(alarm).toHaveBeenCalledTimes(1)
      expect(String(alarm.mock.calls[0]?.[0])).toContain('request log records lost')
    })
  })

  describe('without FLOOPY_LOG_KEYS', () => {
    // The first requests of this file without a log key: the warning is once per isolate.
    it('should build and scrub the record here, send it as JSON, and warn once', async () => {
      const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined)
      const rawBody = JSON.stringify({
        messages: [{ role: 'user', content: 'jane.doe@example.com' }],
      })
      for (let i = 0; i < 2; i++) {
        const r = rig({ sealed: false, tenant: tenant(), rawBody, handler: answered })
        await r.post()
        r.taps[0]?.end(ended)
        const record = only(await r.settle())
        expect(r.sent.map((m) => m.contentType)).toEqual(['json'])
        expect(r.sent[0]?.body).toEqual(record)
        expect(record.request_body).toContain('[REDACTED:email]')
        expect(record.prompt_tokens).toBe(11)
      }
      expect(warn).toHaveBeenCalledTimes(1)
      expect(String(warn.mock.calls[0]?.[0])).toContain('FLOOPY_LOG_KEYS is not set')
    })
  })

  describe('without a Queue', () => {
    it('should write a metadata line without bodies when the access log is on', async () => {
      const line = vi.spyOn(console, 'log').mockImplementation(() => undefined)
      const r = rig({ queue: false, accessLog: true, tenant: tenant(), handler: answered })
      await r.post()
      r.taps[0]?.end(ended)
      await r.settle()
      expect(line).toHaveBeenCalledTimes(1)
      const logged = JSON.parse(String(line.mock.calls[0]?.[0])) as Record<string, unknown>
      expect(logged).toMatchObject({ msg: 'request', request_id: 'log-1', prompt_tokens: 11 })
      expect(logged).not.toHaveProperty('request_body')
      expect(logged).not.toHaveProperty('response_body')
    })

    it('should register no tap and leave nothing behind when the access log is off', async () => {
      const line = vi.spyOn(console, 'log').mockImplementation(() => undefined)
      let tapCount: number | undefined
      const r = rig({
        queue: false,
        accessLog: false,
        tenant: tenant(),
        handler: (trace, taps) => {
          tapCount = taps.length
          return answered(trace)
        },
      })
      expect((await r.post()).status).toBe(200)
      expect(tapCount).toBe(0)
      expect(r.waited).toEqual([])
      expect(line).not.toHaveBeenCalled()
    })
  })
})
