/**
 * The reference stage: a served request's id becomes its signed reference — in `x-request-id`
 * (through the request-id stage) and in the trace's log id — or in `floopy-request-id` when the
 * client chose its own id; errors, unauthenticated requests and answers nobody served keep the
 * plain id. The reference reads back to the rule, target and cache entry that served it.
 */
import { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import type { StageEnv } from '../../env'
import { readReference, referenceKey } from '../../feedback/reference'
import type { Tenant } from '../../tenancy/tenant'
import type { Exchange, Trace } from '../../types'
import type { AuthVariables } from '../authenticate'
import { requestId } from '../request-id'
import { reference } from '.'

const key = () => referenceKey(new Uint8Array(32).fill(1))

type Served = {
  status?: number
  tenant?: boolean
  exchange?: Partial<Exchange> & { answered: boolean }
  cached?: boolean
  rule?: string
}

const appServing = (served: Served) => {
  const traces: Trace[] = []
  const app = new Hono<StageEnv<Partial<AuthVariables>>>()
  app.use(requestId())
  app.use(reference({ key }))
  app.post('/v1/chat/completions', (c) => {
    if (served.tenant !== false) c.set('tenant', { orgId: 'org_acme' } as Tenant)
    const trace = c.get('trace')
    traces.push(trace)
    trace.rule = served.rule
    if (served.exchange !== undefined) {
      trace.exchange = {
        target: { provider: { spec: { id: 'groq' } }, model: 'llama-3.3-70b-versatile' },
        ...served.exchange,
      } as Exchange
    }
    if (served.cached === true) {
      trace.cachedAnswer = { provider: 'openai', model: 'gpt-4o-mini', usage: undefined }
      trace.cacheEntry = 'floopy:cache:org_acme:default:e:HASH'
    }
    return c.json({}, (served.status ?? 200) as 200)
  })
  const send = (headers: Record<string, string> = {}) =>
    app.request('/v1/chat/completions', { method: 'POST', headers })
  return { send, traces }
}

const read = async (ref: string | null) =>
  readReference(await key(), ref ?? '', 'org_acme', Math.floor(Date.now() / 1000))

describe('the reference stage', () => {
  it('should sign an answered request: rule and target, in x-request-id and the log id', async () => {
    const { send, traces } = appServing({ exchange: { answered: true }, rule: 'rtag' })
    const res = await send()
    const id = res.headers.get('x-request-id')
    expect(await read(id)).toMatchObject({
      orgId: 'org_acme',
      rule: 'rtag',
      target: 'groq/llama-3.3-70b-versatile',
      entry: '',
    })
    expect(traces[0]?.logId).toBe(id)
  })

  it('should sign a cache hit with its entry and the target that once produced it', async () => {
    const { send } = appServing({ cached: true })
    const res = await send()
    expect(await read(res.headers.get('x-request-id'))).toMatchObject({
      rule: '',
      target: 'openai/gpt-4o-mini',
      entry: 'default:e:HASH',
    })
  })

  it('should keep a client’s own id and give the reference beside it', async () => {
    const { send, traces } = appServing({ exchange: { answered: true } })
    const res = await send({ 'x-request-id': 'client-id-7' })
    expect(res.headers.get('x-request-id')).toBe('client-id-7')
    const ref = res.headers.get('floopy-request-id')
    expect(await read(ref)).toBeDefined()
    expect(traces[0]?.logId).toBe(ref)
  })

  it.each<[string, Served]>([
    ['an error answer', { exchange: { answered: true }, status: 502 }],
    ['an unauthenticated request', { exchange: { answered: true }, tenant: false }],
    ['an exchange that never answered', { exchange: { answered: false } }],
    ['an answer nobody served', {}],
  ])('should leave %s with its plain id', async (_, served) => {
    const { send, traces } = appServing(served)
    const res = await send()
    expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/)
    expect(res.headers.get('floopy-request-id')).toBeNull()
    expect(traces[0]?.logId).toBe(res.headers.get('x-request-id'))
  })
})
