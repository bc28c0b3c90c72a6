/**
 * The dispatch stage, with a stand-in for the provider client.
 *
 * A single target is sent once — never retried, its error answered as it is — with the headers
 * guard prepared, and answered with `floopy-attempts: 1`. Several targets are walked in order:
 * a 503 fails over to the next, a 400 is answered as it is, each try gets its own copy of the
 * forwarded headers (one provider's auth header never reaches the next), and the health sync due
 * afterwards goes to `waitUntil`. The provider key is the operator's, or the organisation's own
 * opened from the vault at the last moment. Every try is recorded in the request trace: the
 * exchange, the number of attempts and each failed one.
 */
import { Hono, type ExecutionContext } from 'hono'
import { describe, expect, it, vi } from 'vitest'
import { builtinProvider } from '../../config'
import type { StageEnv } from '../../env'
import { GatewayError, toGatewayError } from '../../errors'
import type { CallOptions, callProvider } from '../../providers/client'
import { PROVIDERS } from '../../providers/registry'
import type { HealthTracker } from '../../routing/health'
import type { RetryPolicy } from '../../routing/retry'
import { parseKeyring, sealProviderKey, type Keyring } from '../../security/vault'
import type { Tenant } from '../../tenancy/tenant'
import {
  newTrace,
  type KeyChoice,
  type ParsedRequest,
  type ResponseTap,
  type Target,
  type Trace,
} from '../../types'
import type { AuthVariables } from '../authenticate'
import type { GuardVariables } from '../guard'
import type { ParsedVariables } from '../parse-request'
import type { RouteVariables } from '../route'
import { dispatch, type DispatchOptions } from '.'
import { testTenant } from '../../../test/support/unit'

const ORG = 'org_1'
const OPERATOR_KEYS: Readonly<Record<string, string>> = {
  openai: 'sk-operator-openai',
  anthropic: 'sk-ant-operator',
  groq: 'gsk-operator',
}

const target = (id: string, model: string, key: KeyChoice = 'operator'): Target => {
  const spec = PROVIDERS.find((p) => p.id === id)
  if (spec === undefined) throw new Error(`no provider ${id}`)
  const provider = builtinProvider(spec, OPERATOR_KEYS[id], undefined)
  return {
    provider,
    model,
    url: new URL(`${provider.baseUrl}/chat/completions`),
    key,
    healthId: key === 'organization' ? `${id}/${model}#org:${ORG}` : `${id}/${model}`,
  }
}

const CLAUDE = target('anthropic', 'claude-sonnet-4')
const GPT = target('openai', 'gpt-4o')
const LLAMA = target('groq', 'llama-3.3-70b-versatile')

const request: ParsedRequest = {
  kind: 'chat',
  body: { model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] },
  model: 'gpt-4o',
  stream: false,
  includeUsage: false,
}

const tenant = (providerKeys: Record<string, string> = {}): Tenant =>
  testTenant({ id: ORG }, { providerKeys: new Map(Object.entries(providerKeys)) })

/** A fresh keyring of one random key, as `npm run admin -- kek generate` makes one. */
const newKeyring = (): Keyring => {
  const bytes = crypto.getRandomValues(new Uint8Array(32))
  return parseKeyring(
    JSON.stringify({ current: 'k1', keys: { k1: btoa(String.fromCharCode(...bytes)) } }),
  )
}

/** One try as the provider client saw it: the headers are copied as they arrived. */
type Seen = {
  target: Target
  options: CallOptions
  headersAtCall: Record<string, string>
}

/** How the stand-in answers the nth call: a response, or a thrown error. */
type Answer = { status: number } | GatewayError

const providerError = (status: number, provider = 'provider'): GatewayError =>
  new GatewayError('PROVIDER_ERROR', `${provider}: upstream ${String(status)}`, {
    status,
    ...(status < 500 && status !== 429 ? { type: 'invalid_request_error' as const } : {}),
  })

/**
 * A provider client that answers from `answers` in turn and, like the real one, sets the target's
 * auth header on the headers it was given.
 */
const standInCall = (answers: readonly Answer[]) => {
  const seen: Seen[] = []
  const call = vi.fn<typeof callProvider>((t, _request, options) => {
    const headers = options.headers ?? new Headers()
    seen.push({ target: t, options, headersAtCall: Object.fromEntries(headers) })
    const { auth } = t.provider.spec
    if (options.apiKey !== undefined) headers.set(auth.header, `${auth.prefix}${options.apiKey}`)
    options.onHeaders?.(Date.now())
    const answer = answers[seen.length - 1] ?? { status: 200 }
    if (answer instanceof GatewayError) return Promise.reject(answer)
    return Promise.resolve(
      new Response(JSON.stringify({ served: t.healthId }), {
        status: answer.status,
        headers: { 'content-type': 'application/json', 'floopy-provider': t.provider.spec.id },
      }),
    )
  })
  return { call, seen }
}

const healthStandIn = (sync?: Promise<void>) => {
  const admit = vi.fn<HealthTracker['admit']>(() =>
    Promise.resolve({ allowed: true, probe: false }),
  )
  const record = vi.fn<HealthTracker['record']>(() => true)
  const syncFn = vi.fn<HealthTracker['sync']>(() => sync)
  const health: HealthTracker = { latency: new Map(), admit, record, sync: syncFn }
  return { health, admit, record, sync: syncFn }
}

/** One try per target, no backoff: the walk itself is `routing/failover.ts`'s to test. */
const ONE_TRY: RetryPolicy = {
  maxAttemptsPerTarget: 1,
  baseDelayMs: 0,
  maxDelayMs: 0,
  retryAfterCapMs: 0,
}

type Env = StageEnv<AuthVariables & ParsedVariables & RouteVariables & GuardVariables>

type RigOptions = {
  readonly targets: readonly Target[]
  readonly answers?: readonly Answer[]
  readonly tenant?: Tenant
  readonly keyring?: Keyring | undefined
  readonly sync?: Promise<void>
  readonly clientHeaders?: Record<string, string>
}

const rig = (options: RigOptions) => {
  const { call, seen } = standInCall(options.answers ?? [])
  const health = healthStandIn(options.sync)
  const trace: Trace = newTrace('log-1', undefined)
  const taps: ResponseTap[] = [{ headBytes: 16, end: () => undefined }]
  const forward = new Headers(options.clientHeaders ?? { 'x-stainless-lang': 'js' })
  const dispatchOptions: DispatchOptions = {
    call,
    health: health.health,
    keyring: 'keyring' in options ? options.keyring : undefined,
    upstreamTimeoutMs: 600_000,
    attemptTimeoutMs: 120_000,
    routingDeadlineMs: 1_000_000_000,
    retry: ONE_TRY,
  }
  const app = new Hono<Env>()
  app.use(async (c, next) => {
    c.set('requestId', 'req-1')
    c.set('trace', trace)
    c.set('taps', taps)
    c.set('tenant', options.tenant ?? tenant())
    c.set('apiKey', 'flo_sk_live_presented')
    c.set('request', request)
    c.set('targets', options.targets)
    c.set('forwardHeaders', forward)
    await next()
  })
  app.post('/v1/chat/completions', dispatch(dispatchOptions))
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
    app.request('/v1/chat/completions', { method: 'POST' }, {}, ctx)
  return { post, call, seen, health, trace, taps, forward, waited }
}

const errorOf = async (res: Response): Promise<{ code: string; message: string }> => {
  const body: { error: { code: string; message: string } } = await res.json()
  return body.error
}

describe('dispatch', () => {
  describe('with a single target', () => {
    it("should send it once with guard's headers and answer with floopy-attempts: 1", async () => {
      const r = rig({ targets: [GPT] })
      const res = await r.post()
      expect(res.status).toBe(200)
      expect(await res.json()).toEqual({ served: 'openai/gpt-4o' })
      expect(res.headers.get('floopy-attempts')).toBe('1')
      expect(r.call).toHaveBeenCalledTimes(1)
      const [first] = r.seen
      expect(first?.target).toBe(GPT)
      expect(r.call.mock.calls[0]?.[1]).toBe(request)
      expect(first?.options).toMatchObject({
        requestId: 'req-1',
        apiKey: 'sk-operator-openai',
        timeoutMs: 600_000,
        commitOnFirstByte: false,
      })
      expect(first?.options.headers).toBe(r.forward)
      expect(first?.options.taps).toBe(r.taps)
      expect(first?.headersAtCall).toEqual({ 'x-stainless-lang': 'js' })
    })

    it('should record the answered exchange in the trace', async () => {
      const r = rig({ targets: [GPT] })
      await r.post()
      expect(r.trace.attempts).toBe(1)
      expect(r.trace.failedAttempts).toEqual([])
      expect(r.trace.exchange?.target).toBe(GPT)
      expect(r.trace.exchange?.answered).toBe(true)
      expect(r.trace.exchange?.headersAt).toBeTypeOf('number')
    })

    it('should not retry a failure and answer it as it is', async () => {
      const r = rig({ targets: [GPT], answers: [providerError(503, 'openai')] })
      const res = await r.post()
      expect(res.status).toBe(503)
      expect((await errorOf(res)).code).toBe('PROVIDER_ERROR')
      expect(r.call).toHaveBeenCalledTimes(1)
      expect(r.trace.attempts).toBe(1)
      expect(r.trace.exchange?.target).toBe(GPT)
      expect(r.trace.exchange?.answered).toBe(false)
      // No failover walk: the breakers are not consulted for a lone target.
      expect(r.health.admit).not.toHaveBeenCalled()
      expect(r.health.record).not.toHaveBeenCalled()
    })

    it('should refuse a request without targets with a 500', async () => {
      const r = rig({ targets: [] })
      const res = await r.post()
      expect(res.status).toBe(500)
      expect((await errorOf(res)).code).toBe('INTERNAL_ERROR')
      expect(r.call).not.toHaveBeenCalled()
    })
  })

  describe('with several targets', () => {
    it('should fail over on a 503 and answer from the next target', async () => {
      const r = rig({ targets: [CLAUDE, GPT, LLAMA], answers: [providerError(503, 'anthropic')] })
      const res = await r.post()
      expect(res.status).toBe(200)
      expect(await res.json()).toEqual({ served: 'openai/gpt-4o' })
      expect(res.headers.get('floopy-attempts')).toBe('2')
      expect(r.seen.map((s) => s.target)).toEqual([CLAUDE, GPT])
      for (const s of r.seen) {
        expect(s.options.commitOnFirstByte).toBe(true)
        expect(s.options.timeoutMs).toBe(120_000)
      }
      expect(r.trace.attempts).toBe(2)
      expect(r.trace.failedAttempts).toEqual(['anthropic/claude-sonnet-4: 503 PROVIDER_ERROR'])
      expect(r.trace.exchange?.target).toBe(GPT)
      expect(r.trace.exchange?.answered).toBe(true)
    })

    it('should answer a 400 as it is, without trying the next target', async () => {
      const r = rig({ targets: [CLAUDE, GPT], answers: [providerError(400, 'anthropic')] })
      const res = await r.post()
      expect(res.status).toBe(400)
      expect((await errorOf(res)).code).toBe('PROVIDER_ERROR')
      expect(r.call).toHaveBeenCalledTimes(1)
      expect(r.trace.attempts).toBe(1)
      expect(r.trace.failedAttempts).toEqual([])
      expect(r.trace.exchange?.answered).toBe(false)
    })

    it("should give each try its own headers, so one provider's auth never reaches the next", async () => {
      const r = rig({
        targets: [CLAUDE, GPT, LLAMA],
        answers: [providerError(503), providerError(502)],
      })
      expect((await r.post()).status).toBe(200)
      expect(r.seen).toHaveLength(3)
      // The first try set anthropic's x-api-key, the second openai's authorization.
      expect(r.seen.map((s) => s.headersAtCall)).toEqual([
        { 'x-stainless-lang': 'js' },
        { 'x-stainless-lang': 'js' },
        { 'x-stainless-lang': 'js' },
      ])
      expect(r.seen[1]?.options.headers?.get('x-api-key')).toBeNull()
      expect(r.seen[2]?.options.headers?.get('x-api-key')).toBeNull()
      expect(r.seen[2]?.options.headers?.get('authorization')).toBe('Bearer gsk-operator')
      // Guard's headers themselves were never written to.
      expect(Object.fromEntries(r.forward)).toEqual({ 'x-stainless-lang': 'js' })
    })

    it('should answer 502 NO_PROVIDER_AVAILABLE when every target fails, recording each', async () => {
      const r = rig({
        targets: [CLAUDE, GPT],
        answers: [providerError(503), providerError(429)],
      })
      const res = await r.post()
      expect(res.status).toBe(502)
      expect((await errorOf(res)).code).toBe('NO_PROVIDER_AVAILABLE')
      expect(res.headers.get('floopy-attempts')).toBe('2')
      expect(r.trace.attempts).toBe(2)
      expect(r.trace.failedAttempts).toEqual([
        'anthropic/claude-sonnet-4: 503 PROVIDER_ERROR',
        'openai/gpt-4o: 429 PROVIDER_ERROR',
      ])
      expect(r.trace.exchange?.target).toBe(GPT)
      expect(r.trace.exchange?.answered).toBe(false)
    })

    it('should record each try with the breakers and hand the due sync to waitUntil', async () => {
      const synced = Promise.resolve()
      const r = rig({ targets: [CLAUDE, GPT], answers: [providerError(503)], sync: synced })
      expect((await r.post()).status).toBe(200)
      expect(r.health.admit.mock.calls.map(([id]) => id)).toEqual([
        'anthropic/claude-sonnet-4',
        'openai/gpt-4o',
      ])
      expect(r.health.record.mock.calls.map(([id, result]) => [id, result.ok])).toEqual([
        ['anthropic/claude-sonnet-4', false],
        ['openai/gpt-4o', true],
      ])
      expect(r.health.sync).toHaveBeenCalledTimes(1)
      expect(r.waited).toEqual([synced])
    })

    it('should hand nothing to waitUntil when no sync is due', async () => {
      const r = rig({ targets: [CLAUDE, GPT] })
      expect((await r.post()).status).toBe(200)
      expect(r.health.sync).toHaveBeenCalledTimes(1)
      expect(r.waited).toEqual([])
    })
  })

  describe('provider keys', () => {
    it("should open the organisation's own key from the vault for an organization target", async () => {
      const keyring = newKeyring()
      const own = 'sk-org-own-openai-key'
      const sealed = sealProviderKey(keyring, { orgId: ORG, provider: 'openai' }, own)
      const r = rig({
        targets: [target('openai', 'gpt-4o', 'organization')],
        tenant: tenant({ openai: sealed }),
        keyring,
      })
      expect((await r.post()).status).toBe(200)
      expect(r.seen[0]?.options.apiKey).toBe(own)
    })

    it("should send the operator's key for an operator target even when one is stored", async () => {
      const keyring = newKeyring()
      const sealed = sealProviderKey(keyring, { orgId: ORG, provider: 'openai' }, 'sk-org')
      const r = rig({ targets: [GPT], tenant: tenant({ openai: sealed }), keyring })
      expect((await r.post()).status).toBe(200)
      expect(r.seen[0]?.options.apiKey).toBe('sk-operator-openai')
    })

    it('should open each target its own key while walking', async () => {
      const keyring = newKeyring()
      const own = 'sk-org-own-anthropic'
      const sealed = sealProviderKey(keyring, { orgId: ORG, provider: 'anthropic' }, own)
      const r = rig({
        targets: [target('anthropic', 'claude-sonnet-4', 'organization'), GPT],
        answers: [providerError(503)],
        tenant: tenant({ anthropic: sealed }),
        keyring,
      })
      expect((await r.post()).status).toBe(200)
      expect(r.seen.map((s) => s.options.apiKey)).toEqual([own, 'sk-operator-openai'])
    })

    it('should refuse with 500 CONFIG_INVALID, calling no one, when there is no keyring', async () => {
      const sealed = sealProviderKey(newKeyring(), { orgId: ORG, provider: 'openai' }, 'sk-org')
      const r = rig({
        targets: [target('openai', 'gpt-4o', 'organization')],
        tenant: tenant({ openai: sealed }),
      })
      const res = await r.post()
      expect(res.status).toBe(500)
      expect((await errorOf(res)).code).toBe('CONFIG_INVALID')
      expect(r.call).not.toHaveBeenCalled()
    })

    it('should refuse a key sealed for another organisation, without echoing it', async () => {
      const keyring = newKeyring()
      const secret = 'sk-someone-elses-key'
      const sealed = sealProviderKey(keyring, { orgId: 'org_2', provider: 'openai' }, secret)
      const r = rig({
        targets: [target('openai', 'gpt-4o', 'organization')],
        tenant: tenant({ openai: sealed }),
        keyring,
      })
      const res = await r.post()
      expect(res.status).toBe(500)
      const error = await errorOf(res)
      expect(error.code).toBe('CONFIG_INVALID')
      expect(error.message).not.toContain(secret)
      expect(r.call).not.toHaveBeenCalled()
    })
  })
})
