/**
 * The guard stage: every target's destination must pass the egress policy before anything is
 * sent — a private, loopback or metadata host is refused (502 `DESTINATION_REFUSED`) unless the
 * operator configured that endpoint, and one refused target refuses the request — and the
 * headers handed to dispatch in `forwardHeaders` are the client's minus its credentials, its
 * address, hop-by-hop headers and the gateway's own controls.
 */
import { Hono } from 'hono'
import { afterEach, beforeEach, describe, expect, it, vi, type MockInstance } from 'vitest'
import type { StageEnv } from '../../env'
import { toGatewayError } from '../../errors'
import { PROVIDERS } from '../../providers/registry'
import type { ProviderConfig, Target } from '../../types'
import type { RouteVariables } from '../route'
import { guard, type GuardVariables } from '.'

const openaiSpec = PROVIDERS.find((spec) => spec.id === 'openai')
if (openaiSpec === undefined) throw new Error('the registry has no openai')

/** A target at `base` (a fresh URL each time: verdicts are memoised per URL object). */
const target = (base: string, operatorConfigured: boolean, id = 'openai'): Target => {
  const provider: ProviderConfig = {
    spec: { ...openaiSpec, id },
    baseUrl: base,
    origin: new URL(base).origin,
    apiKey: 'sk-operator',
    operatorConfigured,
    models: [],
  }
  return {
    provider,
    model: 'gpt-4o',
    url: new URL(`${base}/chat/completions`),
    key: 'operator',
    healthId: `${id}/gpt-4o`,
  }
}

const rig = (targets: readonly Target[]) => {
  const forwarded: Headers[] = []
  const app = new Hono<StageEnv<RouteVariables & GuardVariables>>()
  app.use(async (c, next) => {
    c.set('targets', targets)
    await next()
  })
  app.use(guard())
  app.post('/v1/chat/completions', (c) => {
    forwarded.push(c.get('forwardHeaders'))
    return c.text('ok')
  })
  app.onError((err) => toGatewayError(err).toResponse(undefined))
  const post = async (headers: Record<string, string> = {}): Promise<Response> =>
    app.request('/v1/chat/completions', { method: 'POST', headers })
  return { post, forwarded }
}

let logged: MockInstance<typeof console.error>

beforeEach(() => {
  logged = vi.spyOn(console, 'error').mockImplementation(() => undefined)
})

afterEach(() => {
  vi.restoreAllMocks()
})

describe('guard', () => {
  it('should pass a public destination on', async () => {
    const { post, forwarded } = rig([target('https://api.openai.com/v1', false)])
    expect((await post()).status).toBe(200)
    expect(forwarded).toHaveLength(1)
  })

  it.each([
    ['a private address', 'https://10.0.0.5/v1'],
    ['loopback', 'https://127.0.0.1:8443/v1'],
    ['a localhost name', 'https://localhost/v1'],
    ['an internal name', 'https://inference.internal/v1'],
  ])(
    'should refuse %s the operator did not configure with 502 DESTINATION_REFUSED',
    async (_name, base) => {
      const { post, forwarded } = rig([target(base, false, 'mirror')])
      const res = await post()
      expect(res.status).toBe(502)
      const body: { error: { code: string; message: string } } = await res.json()
      expect(body.error.code).toBe('DESTINATION_REFUSED')
      expect(body.error.message).toContain("'mirror'")
      // The reason is logged for the operator; the URL is not.
      expect(logged).toHaveBeenCalledTimes(1)
      expect(JSON.stringify(logged.mock.calls)).not.toContain(new URL(base).hostname)
      expect(forwarded).toEqual([])
    },
  )

  it('should allow a private address the operator configured', async () => {
    const { post, forwarded } = rig([target('http://10.0.0.5:8000/v1', true)])
    expect((await post()).status).toBe(200)
    expect(forwarded).toHaveLength(1)
  })

  it('should refuse a cloud metadata endpoint even when the operator configured it', async () => {
    const { post, forwarded } = rig([target('http://169.254.169.254/v1', true)])
    expect((await post()).status).toBe(502)
    expect(forwarded).toEqual([])
  })

  it('should refuse the request when any of its targets is refused', async () => {
    const { post, forwarded } = rig([
      target('https://api.openai.com/v1', false),
      target('https://192.168.1.20/v1', false, 'lan'),
    ])
    expect((await post()).status).toBe(502)
    expect(forwarded).toEqual([])
  })

  it("should forward the client's headers minus credentials, its address and hop-by-hop ones", async () => {
    const { post, forwarded } = rig([target('https://api.openai.com/v1', false)])
    const res = await post({
      authorization: 'Bearer flo_sk_live_client_gateway_key',
      'x-api-key': 'sk-ant-client',
      cookie: 'session=1',
      'cf-connecting-ip': '203.0.113.7',
      'x-forwarded-for': '203.0.113.7',
      'floopy-cache': 'no-store',
      connection: 'keep-alive, x-hop',
      'x-hop': '1',
      'openai-organization': 'org-abc',
      'x-stainless-lang': 'js',
      'user-agent': 'OpenAI/JS 5.0.0',
    })
    expect(res.status).toBe(200)
    const [headers] = forwarded
    expect(headers).toBeDefined()
    expect(Object.fromEntries(headers ?? [])).toEqual({
      'openai-organization': 'org-abc',
      'x-stainless-lang': 'js',
      'user-agent': 'OpenAI/JS 5.0.0',
    })
  })
})
