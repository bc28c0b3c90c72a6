/**
 * The response cache stage, with in-memory stores and a counting fake embedder, and its
 * first-round-trip part `exactLookup`.
 *
 * Without a policy the request passes with no I/O and no header. A hit answers without running
 * anything downstream, saying `floopy-cache: HIT`, its tier, `Age` and, for the similarity tiers,
 * the similarity. A miss says `MISS` (or `BYPASS`, `REFRESH`), taps the answer for up to
 * `MAX_ENTRY_BYTES + 1` bytes and stores it once the tap has ended — only an answer handed to the
 * client, and only a complete one. The part's lookup is the stage's when its key is the stage's (one
 * `get`); a prompted request whose template is not memoised gets the stage's own lookup. The
 * embedding failing or being slow, or the stores failing or being slow, is a miss; the embedding
 * is left on the request for later stages.
 */
import { Hono, type ExecutionContext } from 'hono'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { operatorTarget, testTenant, usage } from '../../../test/support/unit'
import type { Embedder } from '../../cache/embed'
import { localEmbedding } from '../../cache/embedder'
import { MAX_ENTRY_BYTES } from '../../cache/entry'
import { exactKey } from '../../cache/tiers'
import type { StageEnv } from '../../env'
import { toGatewayError } from '../../errors'
import type { PromptResolver } from '../../prompts/resolver'
import type { ResolvedPrompt } from '../../prompts/template'
import { assembleChatStream } from '../../providers/assemble'
import type { CacheEntry, CacheStore, VectorStore } from '../../stores'
import { memoryCacheStore } from '../../stores/embedded/cache-store'
import { memoryVectorStore } from '../../stores/embedded/vector-store'
import type { Tenant } from '../../tenancy/tenant'
import {
  newTrace,
  type AnswerEnd,
  type ParsedRequest,
  type ResponseTap,
  type Trace,
} from '../../types'
import type { AuthVariables } from '../authenticate'
import { firstRoundTrip } from '../first-round-trip'
import { toParsedRequest, type ParsedVariables } from '../parse-request'
import { prompt } from '../prompt'
import {
  BUCKETED_FLAG,
  cache,
  exactLookup,
  type CacheLookupVariables,
  type CacheServices,
  type EmbeddingVariables,
} from '.'

const NOW = Date.UTC(2026, 2, 10, 9, 30, 0)
const USAGE = usage(20, 4, 24)

const GPT = operatorTarget('openai', 'gpt-4o-mini', 'sk-operator')

const tenant = (
  settings: Tenant['org']['settings'] = { cache: { enabled: true } },
  features: Record<string, unknown> = {},
): Tenant => testTenant({ settings, features })

const PROMPT = 'What is the capital of France?'
const PARAPHRASE = 'What’s the capital city of France?'

const ask = (text = PROMPT, extra: Record<string, unknown> = {}) => ({
  model: 'openai/gpt-4o-mini',
  messages: [{ role: 'user', content: text }],
  ...extra,
})

const completion = (content: string) => ({
  id: 'chatcmpl-1',
  object: 'chat.completion',
  created: 1_773_000_000,
  model: 'gpt-4o-mini',
  choices: [
    {
      index: 0,
      logprobs: null,
      finish_reason: 'stop',
      message: { role: 'assistant', content, refusal: null },
    },
  ],
  usage: { prompt_tokens: 20, completion_tokens: 4, total_tokens: 24 },
})

const ANSWER = JSON.stringify(completion('Paris.'))

const entry = (body = ANSWER, prompt: string | undefined = PROMPT): CacheEntry => ({
  body,
  storedAt: NOW - 42_000,
  prompt,
  provider: 'anthropic',
  model: 'claude-sonnet-4-5',
  usage: USAGE,
})

/** The key the stage will look up for `body` (no prompt template applied). */
const keyOf = (body: Record<string, unknown>, namespace = 'default'): string =>
  exactKey({ orgId: 'org_1', namespace, extra: {} }, toParsedRequest('chat', body))

/** A promise that never settles: a store or embedder that never answers. */
const never = <T>(): Promise<T> => new Promise<T>(() => undefined)

/** The fake embedder: counted, and `PROMPT` and `PARAPHRASE` mean the same. */
const fakeEmbedder = () => {
  const embed = vi.fn<Embedder['embed']>((text) =>
    Promise.resolve(localEmbedding(text === PARAPHRASE ? PROMPT : text)),
  )
  return { model: 'fake', embed } satisfies Embedder
}

type Vars = AuthVariables &
  ParsedVariables &
  Partial<CacheLookupVariables> &
  Partial<EmbeddingVariables>

type RigOptions = {
  readonly tenant?: Tenant
  /** `undefined`: exact tier only. */
  readonly embedder?: Embedder | undefined
  /** `false`: no semantic tier. */
  readonly vectors?: VectorStore | false
  readonly store?: CacheStore
  readonly embedTimeoutMs?: number
  readonly lookupTimeoutMs?: number
  /** Run the first round trip's `exactLookup` part before the stage. */
  readonly part?: boolean
  /** Run the prompt stage (with this resolver) between the part and the cache stage. */
  readonly prompts?: PromptResolver
  /** Whether the downstream's answer is handed to the client (`trace.exchange.answered`). */
  readonly answered?: boolean
  /** What the downstream answers. */
  readonly answer?: string
}

/** What the downstream saw of one request. */
type Reached = {
  readonly request: ParsedRequest
  readonly embedding: EmbeddingVariables['embedding'] | undefined
  readonly lookup: CacheLookupVariables['cacheLookup'] | undefined
  readonly taps: readonly ResponseTap[]
}

const rig = (options: RigOptions = {}) => {
  const store = options.store ?? memoryCacheStore()
  const vectors = options.vectors === false ? undefined : (options.vectors ?? memoryVectorStore())
  const embedder = 'embedder' in options ? options.embedder : fakeEmbedder()
  const services: CacheServices = {
    store,
    vectors,
    embedder,
    embedTimeoutMs: options.embedTimeoutMs ?? 60_000,
    lookupTimeoutMs: options.lookupTimeoutMs ?? 60_000,
  }
  const spies = {
    get: vi.spyOn(store, 'get'),
    put: vi.spyOn(store, 'put'),
    candidates: vi.spyOn(store, 'candidates'),
    addToBuckets: vi.spyOn(store, 'addToBuckets'),
    nearest: vectors === undefined ? undefined : vi.spyOn(vectors, 'nearest'),
    upsert: vectors === undefined ? undefined : vi.spyOn(vectors, 'upsert'),
    embed: embedder === undefined ? undefined : vi.spyOn(embedder, 'embed'),
  }
  const reached: Reached[] = []
  const traces: Trace[] = []
  const app = new Hono<StageEnv<Vars>>()
  app.use(async (c, next) => {
    const body: unknown = await c.req.json()
    const trace = newTrace('req_1', undefined)
    traces.push(trace)
    c.set('requestId', 'req_1')
    c.set('trace', trace)
    c.set('taps', [])
    c.set('apiKey', 'flo_sk_live_x')
    c.set('tenant', options.tenant ?? tenant())
    const kind = c.req.path.endsWith('embeddings') ? 'embeddings' : 'chat'
    c.set('request', toParsedRequest(kind, body, c.req.header('floopy-prompt-id') !== undefined))
    await next()
  })
  const prompts: PromptResolver = options.prompts ?? {
    resolve: () => Promise.reject(new Error('no prompts here')),
    peek: () => undefined,
  }
  if (options.part === true) app.use(firstRoundTrip([exactLookup({ store, prompts })]))
  if (options.prompts !== undefined) app.use(prompt({ resolver: prompts }))
  app.use(cache(services))
  app.post('*', (c) => {
    reached.push({
      request: c.get('request'),
      embedding: c.get('embedding'),
      lookup: c.get('cacheLookup'),
      taps: [...c.get('taps')],
    })
    c.get('trace').exchange = { target: GPT, startedAt: NOW, answered: options.answered ?? true }
    return new Response(options.answer ?? ANSWER, {
      headers: { 'content-type': 'application/json' },
    })
  })
  app.onError((err) => toGatewayError(err).toResponse(undefined))

  const waited: Promise<unknown>[] = []
  const ctx: ExecutionContext = {
    waitUntil: (work) => {
      waited.push(work)
    },
    passThroughOnException: () => undefined,
    props: {},
  }
  const send = (
    body: Record<string, unknown>,
    headers: Record<string, string> = {},
    path = '/v1/chat/completions',
  ): Promise<Response> =>
    Promise.resolve(
      app.request(
        path,
        {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...headers },
          body: JSON.stringify(body),
        },
        {},
        ctx,
      ),
    )
  /** Tells the last request's taps its answer ended, then waits for the after-response work. */
  const end = async (ended: Partial<AnswerEnd> = {}, text = options.answer ?? ANSWER) => {
    const taps = reached.at(-1)?.taps ?? []
    for (const tap of taps) {
      tap.end({
        outcome: { usage: USAGE, end: 'done' },
        head: { text, truncated: false },
        ...ended,
      })
    }
    await settle()
  }
  const settle = async (): Promise<void> => {
    // Work may schedule more work (a store after a tap's end).
    for (let seen = -1; seen !== waited.length;) {
      seen = waited.length
      await Promise.all(waited)
    }
  }
  return { send, end, settle, reached, traces, store, vectors, spies, services }
}

const errorOf = async (res: Response) =>
  (await res.json<{ error: { code: string; param: string | null } }>()).error

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date'], now: NOW })
  // The stage's loud log lines (a failing store, a slow embedder) are expected here.
  vi.spyOn(console, 'error').mockImplementation(() => undefined)
})

afterEach(() => {
  vi.useRealTimers()
  vi.restoreAllMocks()
})

describe('cache', () => {
  describe('without a policy', () => {
    it('should pass the request with no I/O, no tap and no header', async () => {
      const r = rig({ tenant: tenant({}) })
      const res = await r.send(ask())
      expect(res.status).toBe(200)
      expect(res.headers.get('floopy-cache')).toBeNull()
      expect(r.reached).toHaveLength(1)
      expect(r.reached[0]?.taps).toEqual([])
      expect(r.reached[0]?.embedding).toBeUndefined()
      expect(r.traces[0]?.cache).toBe('NONE')
      expect(r.spies.get).not.toHaveBeenCalled()
      expect(r.spies.nearest).not.toHaveBeenCalled()
      expect(r.spies.candidates).not.toHaveBeenCalled()
      expect(r.spies.embed).not.toHaveBeenCalled()
    })

    it('should pass with no I/O when the request turns the cache off, even through the part', async () => {
      const r = rig({ part: true })
      const res = await r.send(ask(), { 'floopy-cache-enabled': 'false' })
      expect(res.headers.get('floopy-cache')).toBeNull()
      expect(r.reached[0]?.lookup).toBeUndefined()
      expect(r.spies.get).not.toHaveBeenCalled()
      expect(r.spies.embed).not.toHaveBeenCalled()
    })
  })

  it('should refuse a malformed cache header before anything downstream runs', async () => {
    const r = rig({ part: true })
    const res = await r.send(ask(), { 'floopy-cache-ttl': 'forever' })
    expect(res.status).toBe(400)
    expect(await errorOf(res)).toMatchObject({
      code: 'INVALID_REQUEST',
      param: 'floopy-cache-ttl',
    })
    expect(r.reached).toHaveLength(0)
    expect(r.spies.get).not.toHaveBeenCalled()
  })

  describe('an exact hit', () => {
    it('should answer the stored body without running the downstream', async () => {
      const r = rig()
      await r.store.put(keyOf(ask()), entry(), 600)
      const res = await r.send(ask())
      expect(res.status).toBe(200)
      expect(await res.text()).toBe(ANSWER)
      expect(Object.fromEntries(res.headers)).toMatchObject({
        'content-type': 'application/json',
        'floopy-cache': 'HIT',
        'floopy-cache-tier': 'exact',
        age: '42',
        'floopy-provider': 'anthropic',
        'floopy-model': 'claude-sonnet-4-5',
      })
      expect(res.headers.get('floopy-cache-similarity')).toBeNull()
      expect(r.reached).toHaveLength(0)
      expect(r.traces[0]).toMatchObject({
        cache: 'HIT',
        cacheTier: 'exact',
        cachedAnswer: { provider: 'anthropic', model: 'claude-sonnet-4-5', usage: USAGE },
      })
    })

    it('should not embed for an exact hit', async () => {
      const r = rig()
      await r.store.put(keyOf(ask()), entry(), 600)
      await r.send(ask())
      expect(r.spies.embed).not.toHaveBeenCalled()
    })

    it('should answer a streamed request as a stream of the stored answer', async () => {
      const r = rig()
      await r.store.put(keyOf(ask()), entry(), 600)
      const res = await r.send(
        ask(PROMPT, { stream: true, stream_options: { include_usage: true } }),
      )
      expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8')
      expect(res.headers.get('cache-control')).toBe('no-cache')
      expect(res.headers.get('floopy-cache')).toBe('HIT')
      const text = await res.text()
      expect(text.endsWith('data: [DONE]\n\n')).toBe(true)
      expect(assembleChatStream(text).choices).toMatchObject([
        { message: { content: 'Paris.' }, finish_reason: 'stop' },
      ])
      expect(r.reached).toHaveLength(0)
    })

    it('should answer embeddings from the exact tier only', async () => {
      const r = rig()
      const body = { model: 'openai/text-embedding-3-small', input: 'hello' }
      const stored = JSON.stringify({ object: 'list', data: [] })
      await r.store.put(
        exactKey(
          { orgId: 'org_1', namespace: 'default', extra: {} },
          toParsedRequest('embeddings', body),
        ),
        entry(stored, undefined),
        600,
      )
      const res = await r.send(body, {}, '/v1/embeddings')
      expect(await res.text()).toBe(stored)
      expect(res.headers.get('floopy-cache-tier')).toBe('exact')
      expect(r.spies.embed).not.toHaveBeenCalled()
    })

    it('should keep namespaces apart', async () => {
      const r = rig()
      await r.store.put(keyOf(ask(), 'team-a'), entry(), 600)
      expect(
        (await r.send(ask(), { 'floopy-cache-namespace': 'team-b' })).headers.get('floopy-cache'),
      ).toBe('MISS')
      expect(
        (await r.send(ask(), { 'floopy-cache-namespace': 'team-a' })).headers.get('floopy-cache'),
      ).toBe('HIT')
    })

    it('should pass a stored body that cannot be streamed to the downstream', async () => {
      const r = rig()
      await r.store.put(keyOf(ask()), entry('not json'), 600)
      const res = await r.send(ask(PROMPT, { stream: true }))
      expect(res.headers.get('floopy-cache')).toBe('MISS')
      expect(r.reached).toHaveLength(1)
    })
  })

  describe('a miss', () => {
    it('should say MISS, tap the answer and store it once the tap has ended', async () => {
      const r = rig()
      const res = await r.send(ask())
      expect(res.headers.get('floopy-cache')).toBe('MISS')
      expect(await res.text()).toBe(ANSWER)
      expect(r.traces[0]?.cache).toBe('MISS')
      expect(r.reached[0]?.taps).toHaveLength(1)
      expect(r.reached[0]?.taps[0]?.headBytes).toBe(MAX_ENTRY_BYTES + 1)
      // The store waits for the tap's end (waiting for it here would wait for ever).
      await new Promise((resolve) => setTimeout(resolve, 5))
      expect(r.spies.put).not.toHaveBeenCalled()

      await r.end()
      expect(r.spies.put).toHaveBeenCalledTimes(1)
      expect(r.spies.put).toHaveBeenCalledWith(keyOf(ask()), expect.anything(), 604_800)
      expect(await r.store.get(keyOf(ask()))).toEqual({
        body: ANSWER,
        storedAt: NOW,
        prompt: PROMPT,
        provider: 'openai',
        model: 'gpt-4o-mini',
        usage: USAGE,
      })
    })

    it('should answer the next identical request from the cache', async () => {
      const r = rig()
      await r.send(ask())
      await r.end()
      const res = await r.send(ask(PROMPT, { user: 'someone-else' }))
      expect(res.headers.get('floopy-cache')).toBe('HIT')
      expect(res.headers.get('floopy-cache-tier')).toBe('exact')
      expect(await res.text()).toBe(ANSWER)
      expect(r.reached).toHaveLength(1)
    })

    it('should store a streamed answer as the chat completion a plain request is served', async () => {
      const sse =
        `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta: { role: 'assistant', content: 'Paris.' }, finish_reason: null }] })}\n\n` +
        `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] })}\n\n` +
        'data: [DONE]\n\n'
      const r = rig({ answer: sse })
      await r.send(ask(PROMPT, { stream: true }))
      await r.end()
      const res = await r.send(ask())
      expect(res.headers.get('floopy-cache')).toBe('HIT')
      expect(await res.json()).toMatchObject({
        object: 'chat.completion',
        choices: [{ message: { content: 'Paris.' }, finish_reason: 'stop' }],
      })
    })

    it('should store with the TTL the request asked for', async () => {
      const r = rig()
      await r.send(ask(), { 'floopy-cache-ttl': '120' })
      await r.end()
      expect(r.spies.put).toHaveBeenCalledWith(keyOf(ask()), expect.anything(), 120)
    })

    it('should not store an answer that was not handed to the client', async () => {
      const r = rig({ answered: false })
      await r.send(ask())
      await r.end()
      expect(r.spies.put).not.toHaveBeenCalled()
    })

    it.each(['interrupted', 'provider_error', 'cancelled'] as const)(
      'should not store an answer that ended %s',
      async (state) => {
        const r = rig()
        await r.send(ask())
        await r.end({ outcome: { usage: USAGE, end: state } })
        expect(r.spies.put).not.toHaveBeenCalled()
      },
    )

    it('should not store an answer larger than the tap’s head', async () => {
      const r = rig()
      await r.send(ask())
      await r.end({ head: { text: ANSWER, truncated: true } })
      expect(r.spies.put).not.toHaveBeenCalled()
    })

    it('should keep answering when the store fails to write', async () => {
      const r = rig()
      r.spies.put.mockRejectedValue(new Error('redis down'))
      const res = await r.send(ask())
      expect(res.status).toBe(200)
      await r.end()
      expect(r.spies.put).toHaveBeenCalledTimes(1)
    })

    it('should be a miss when the exact lookup fails', async () => {
      const r = rig()
      r.spies.get.mockRejectedValue(new Error('redis down'))
      const res = await r.send(ask())
      expect(res.status).toBe(200)
      expect(res.headers.get('floopy-cache')).toBe('MISS')
      expect(r.reached).toHaveLength(1)
    })
  })

  describe('the request’s switches', () => {
    it('should skip the lookup on no-cache, say BYPASS, and store the answer', async () => {
      const r = rig()
      await r.store.put(keyOf(ask()), entry(), 600)
      r.spies.get.mockClear()
      r.spies.put.mockClear()
      const res = await r.send(ask(), { 'cache-control': 'no-cache' })
      expect(res.headers.get('floopy-cache')).toBe('BYPASS')
      expect(r.reached).toHaveLength(1)
      expect(r.spies.get).not.toHaveBeenCalled()
      expect(r.spies.nearest).not.toHaveBeenCalled()
      await r.end()
      expect(r.spies.put).toHaveBeenCalledTimes(1)
    })

    it('should look up but not store on no-store', async () => {
      const r = rig()
      const res = await r.send(ask(), { 'cache-control': 'no-store' })
      expect(res.headers.get('floopy-cache')).toBe('MISS')
      expect(r.spies.get).toHaveBeenCalledTimes(1)
      expect(r.reached[0]?.taps).toEqual([])
      await r.end()
      expect(r.spies.put).not.toHaveBeenCalled()
    })

    it('should say REFRESH, skip a stored answer and replace it', async () => {
      const r = rig({ answer: JSON.stringify(completion('Paris, still.')) })
      await r.store.put(keyOf(ask()), entry(), 600)
      const res = await r.send(ask(), { 'floopy-cache-force-refresh': 'true' })
      expect(res.headers.get('floopy-cache')).toBe('REFRESH')
      expect(r.reached).toHaveLength(1)
      await r.end()
      expect((await r.store.get(keyOf(ask())))?.body).toContain('Paris, still.')
    })
  })

  describe('with the first round trip’s exactLookup', () => {
    it('should use the part’s lookup: one get for a miss', async () => {
      const r = rig({ part: true })
      await r.send(ask())
      expect(r.reached[0]?.lookup).toMatchObject({ key: keyOf(ask()), basis: '' })
      expect(r.spies.get).toHaveBeenCalledTimes(1)
      expect(r.spies.get).toHaveBeenCalledWith(keyOf(ask()))
    })

    it('should use the part’s lookup: one get for a hit', async () => {
      const r = rig({ part: true })
      await r.store.put(keyOf(ask()), entry(), 600)
      const res = await r.send(ask())
      expect(res.headers.get('floopy-cache')).toBe('HIT')
      expect(r.spies.get).toHaveBeenCalledTimes(1)
      expect(r.reached).toHaveLength(0)
    })

    it('should be a miss when the part’s lookup fails', async () => {
      const r = rig({ part: true })
      r.spies.get.mockRejectedValue(new Error('redis down'))
      const res = await r.send(ask())
      expect(res.headers.get('floopy-cache')).toBe('MISS')
      expect(r.spies.get).toHaveBeenCalledTimes(1)
    })

    it('should not look up through the part when the request bypasses the cache', async () => {
      const r = rig({ part: true })
      await r.send(ask(), { 'floopy-cache-force-refresh': 'true' })
      expect(r.reached[0]?.lookup).toBeUndefined()
      expect(r.spies.get).not.toHaveBeenCalled()
    })

    describe('a prompted request', () => {
      const template: ResolvedPrompt = {
        prompt_id: 'capitals',
        version: 2,
        template: {
          model: 'openai/gpt-4o-mini',
          messages: [{ role: 'system', content: 'Answer in {{lang}}.' }],
        },
      }
      const prompted = { messages: [{ role: 'user', content: PROMPT }], inputs: { lang: 'fr' } }
      const applied = {
        model: 'openai/gpt-4o-mini',
        messages: [
          { role: 'system', content: 'Answer in fr.' },
          { role: 'user', content: PROMPT },
        ],
      }
      const resolver = (
        peeked: ResolvedPrompt | undefined,
        resolved: ResolvedPrompt = template,
      ): PromptResolver => ({
        resolve: () => Promise.resolve(resolved),
        peek: () => peeked,
      })
      const HEADERS = { 'floopy-prompt-id': 'capitals' }

      it('should look up the applied request through the part when its template is memoised', async () => {
        const r = rig({ part: true, prompts: resolver(template) })
        await r.store.put(keyOf(applied), entry(), 600)
        const res = await r.send(prompted, HEADERS)
        expect(res.headers.get('floopy-cache')).toBe('HIT')
        expect(r.spies.get).toHaveBeenCalledTimes(1)
        expect(r.spies.get).toHaveBeenCalledWith(keyOf(applied))
      })

      it('should look up on its own when the template is not memoised', async () => {
        const r = rig({ part: true, prompts: resolver(undefined) })
        await r.store.put(keyOf(applied), entry(), 600)
        const res = await r.send(prompted, HEADERS)
        expect(res.headers.get('floopy-cache')).toBe('HIT')
        expect(r.spies.get).toHaveBeenCalledTimes(1)
        expect(r.spies.get).toHaveBeenCalledWith(keyOf(applied))
      })

      it('should not ride the part on a miss when the template is not memoised', async () => {
        const r = rig({ part: true, prompts: resolver(undefined) })
        await r.send(prompted, HEADERS)
        expect(r.reached[0]?.lookup).toBeUndefined()
        expect(r.spies.get).toHaveBeenCalledTimes(1)
        expect(r.spies.get).toHaveBeenCalledWith(keyOf(applied))
      })

      it('should look up again when the prompt stage resolved another version than the memo', async () => {
        const newer: ResolvedPrompt = {
          ...template,
          version: 3,
          template: {
            ...template.template,
            messages: [{ role: 'system', content: 'Use {{lang}}.' }],
          },
        }
        const r = rig({ part: true, prompts: resolver(template, newer) })
        await r.store.put(keyOf(applied), entry(), 600)
        const res = await r.send(prompted, HEADERS)
        // The memo's answer is for version 2; the request was resolved to version 3.
        expect(res.headers.get('floopy-cache')).toBe('MISS')
        expect(r.spies.get).toHaveBeenCalledTimes(2)
        expect(r.spies.get.mock.calls[0]).toEqual([keyOf(applied)])
        expect(r.spies.get.mock.calls[1]).toEqual([
          keyOf({
            ...applied,
            messages: [{ role: 'system', content: 'Use fr.' }, applied.messages[1]],
          }),
        ])
      })
    })
  })

  describe('the similarity tiers', () => {
    it('should embed the last user message once and leave it on the request', async () => {
      const r = rig()
      await r.send(ask())
      const embed = r.spies.embed
      expect(embed).toHaveBeenCalledTimes(1)
      expect(embed).toHaveBeenCalledWith(PROMPT, 'req_1', 60_000)
      expect(r.reached[0]?.embedding?.text).toBe(PROMPT)
      expect(r.reached[0]?.embedding?.vector).toEqual(localEmbedding(PROMPT))
    })

    it('should store the embedding as a point and answer a paraphrase from it', async () => {
      const r = rig()
      await r.send(ask())
      await r.end()
      expect(r.spies.upsert).toHaveBeenCalledTimes(1)
      expect(r.spies.addToBuckets).not.toHaveBeenCalled()
      const res = await r.send(ask(PARAPHRASE))
      expect(Object.fromEntries(res.headers)).toMatchObject({
        'floopy-cache': 'HIT',
        'floopy-cache-tier': 'semantic',
        'floopy-cache-similarity': '1.0000',
        age: '0',
      })
      expect(await res.text()).toBe(ANSWER)
      expect(r.reached).toHaveLength(1)
      expect(r.spies.embed).toHaveBeenCalledTimes(2)
    })

    it('should answer a paraphrase from the buckets when the plan has them', async () => {
      const r = rig({ vectors: false, tenant: tenant(undefined, { [BUCKETED_FLAG]: true }) })
      await r.send(ask())
      await r.end()
      expect(r.spies.addToBuckets).toHaveBeenCalledTimes(1)
      const res = await r.send(ask(PARAPHRASE))
      expect(res.headers.get('floopy-cache')).toBe('HIT')
      expect(res.headers.get('floopy-cache-tier')).toBe('bucket')
      expect(r.reached).toHaveLength(1)
    })

    it('should not look in the buckets without the plan’s flag', async () => {
      const r = rig({ vectors: false })
      await r.send(ask())
      await r.end()
      expect(r.spies.addToBuckets).not.toHaveBeenCalled()
      const res = await r.send(ask(PARAPHRASE))
      expect(res.headers.get('floopy-cache')).toBe('MISS')
      expect(r.spies.candidates).not.toHaveBeenCalled()
    })

    it('should not answer a contradiction', async () => {
      const r = rig()
      await r.send(ask('Turn on dark mode'))
      await r.end()
      const res = await r.send(ask('Turn off dark mode'))
      expect(res.headers.get('floopy-cache')).toBe('MISS')
      expect(r.reached).toHaveLength(2)
    })

    it('should embed but not look up on no-cache, and store the point', async () => {
      const r = rig()
      await r.send(ask(), { 'cache-control': 'no-cache' })
      expect(r.spies.embed).toHaveBeenCalledTimes(1)
      expect(r.spies.nearest).not.toHaveBeenCalled()
      await r.end()
      expect(r.spies.upsert).toHaveBeenCalledTimes(1)
    })

    it('should not embed a request whose last message is not user text', async () => {
      const r = rig()
      await r.send({
        model: 'openai/gpt-4o-mini',
        messages: [
          { role: 'user', content: PROMPT },
          { role: 'assistant', content: 'Paris.' },
        ],
      })
      expect(r.spies.embed).not.toHaveBeenCalled()
      expect(r.reached[0]?.embedding).toBeUndefined()
    })

    it('should run the exact tier only without an embedder', async () => {
      const r = rig({ embedder: undefined })
      await r.send(ask())
      await r.end()
      expect(r.reached[0]?.embedding).toBeUndefined()
      expect(r.spies.nearest).not.toHaveBeenCalled()
      expect(r.spies.upsert).not.toHaveBeenCalled()
      expect((await r.store.get(keyOf(ask())))?.prompt).toBeUndefined()
    })

    describe('failing or slow', () => {
      it('should be a miss when the embedding fails', async () => {
        const embedder: Embedder = {
          model: 'fake',
          embed: vi.fn(() => Promise.reject(new Error('embeddings down'))),
        }
        const r = rig({ embedder })
        const res = await r.send(ask())
        expect(res.status).toBe(200)
        expect(res.headers.get('floopy-cache')).toBe('MISS')
        expect(r.reached).toHaveLength(1)
        expect(r.reached[0]?.embedding).toBeUndefined()
        expect(r.spies.nearest).not.toHaveBeenCalled()
        // The answer is still stored for the exact tier, with no point.
        await r.end()
        expect(r.spies.put).toHaveBeenCalledTimes(1)
        expect(r.spies.upsert).not.toHaveBeenCalled()
      })

      it('should be a miss when the embedding does not come in time', async () => {
        const embed = vi.fn(() => never<Float32Array>())
        const embedder: Embedder = { model: 'fake', embed }
        const r = rig({ embedder, embedTimeoutMs: 1 })
        const res = await r.send(ask())
        expect(res.headers.get('floopy-cache')).toBe('MISS')
        expect(r.reached).toHaveLength(1)
        expect(r.reached[0]?.embedding).toBeUndefined()
        expect(embed).toHaveBeenCalledWith(PROMPT, 'req_1', 1)
      })

      it('should be a miss when the similarity lookup does not come in time', async () => {
        const vectors = memoryVectorStore()
        vi.spyOn(vectors, 'nearest').mockImplementation(() => never())
        const r = rig({ vectors, lookupTimeoutMs: 1 })
        const res = await r.send(ask())
        expect(res.headers.get('floopy-cache')).toBe('MISS')
        expect(r.reached).toHaveLength(1)
        // The embedding was made, and is kept for later stages.
        expect(r.reached[0]?.embedding?.text).toBe(PROMPT)
      })

      it('should be a miss when the semantic store fails', async () => {
        const vectors = memoryVectorStore()
        vi.spyOn(vectors, 'nearest').mockRejectedValue(new Error('qdrant down'))
        const r = rig({ vectors })
        const res = await r.send(ask())
        expect(res.headers.get('floopy-cache')).toBe('MISS')
        expect(r.reached).toHaveLength(1)
      })
    })
  })
})
