/**
 * The request-id stage: a short, plain `x-request-id` from the client is kept (and recorded in the
 * trace beside a fresh log id), anything else is replaced by a UUID that is also the log id; the
 * id is returned on every response, errors included; and every request starts with a fresh trace
 * and an empty list of taps.
 */
import { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import type { StageEnv } from '../../env'
import { GatewayError, toGatewayError } from '../../errors'
import { newTrace, type ResponseTap, type Trace } from '../../types'
import { requestId } from '.'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

type Seen = { requestId: string; trace: Trace; taps: ResponseTap[] }

/** An app whose handler reports what the stage set; `/fail` throws after the stage ran. */
const appWithProbe = () => {
  const seen: Seen[] = []
  const app = new Hono<StageEnv>()
  app.use(requestId())
  app.get('/probe', (c) => {
    seen.push({ requestId: c.get('requestId'), trace: c.get('trace'), taps: c.get('taps') })
    return c.text('ok')
  })
  app.get('/fail', () => {
    throw new GatewayError('INVALID_API_KEY', 'Invalid API key.')
  })
  // Without the id: the header on an error response must come from the stage itself.
  app.onError((err) => toGatewayError(err).toResponse(undefined))
  return { app, seen }
}

const get = async (app: Hono<StageEnv>, path: string, id?: string): Promise<Response> =>
  app.request(path, id === undefined ? {} : { headers: { 'x-request-id': id } })

/** The only request the probe saw. */
const only = (seen: readonly Seen[]): Seen => {
  expect(seen).toHaveLength(1)
  const [first] = seen
  if (first === undefined) throw new Error('the handler did not run')
  return first
}

describe('requestId', () => {
  it('should keep a plain client id, echo it, and give the log row its own id', async () => {
    const { app, seen } = appWithProbe()
    const res = await get(app, '/probe', 'client-42.retry:1=a_b')
    expect(res.status).toBe(200)
    expect(res.headers.get('x-request-id')).toBe('client-42.retry:1=a_b')
    const { requestId: id, trace } = only(seen)
    expect(id).toBe('client-42.retry:1=a_b')
    expect(trace.clientRequestId).toBe('client-42.retry:1=a_b')
    expect(trace.logId).toMatch(UUID)
  })

  it('should keep an id of exactly 128 characters', async () => {
    const { app, seen } = appWithProbe()
    const id = 'a'.repeat(128)
    const res = await get(app, '/probe', id)
    expect(res.headers.get('x-request-id')).toBe(id)
    expect(only(seen).trace.clientRequestId).toBe(id)
  })

  it.each<[string, string]>([
    ['one of 129 characters', 'a'.repeat(129)],
    ['one with a space', 'my id'],
    ['one with markup', '<script>'],
    ['one with a slash', 'a/b'],
    ['an empty one', ''],
  ])('should replace %s with a fresh UUID that is also the log id', async (_name, offered) => {
    const { app, seen } = appWithProbe()
    const res = await get(app, '/probe', offered)
    const { requestId: id, trace } = only(seen)
    expect(id).toMatch(UUID)
    expect(id).not.toBe(offered)
    expect(res.headers.get('x-request-id')).toBe(id)
    expect(trace.logId).toBe(id)
    expect(trace.clientRequestId).toBeUndefined()
  })

  it('should make a fresh UUID when the client sends none', async () => {
    const { app, seen } = appWithProbe()
    const res = await get(app, '/probe')
    const { requestId: id, trace } = only(seen)
    expect(id).toMatch(UUID)
    expect(res.headers.get('x-request-id')).toBe(id)
    expect(trace.logId).toBe(id)
  })

  it('should give each request its own id, trace and taps', async () => {
    const { app, seen } = appWithProbe()
    await get(app, '/probe')
    await get(app, '/probe')
    expect(seen).toHaveLength(2)
    const [a, b] = seen
    expect(a?.requestId).not.toBe(b?.requestId)
    expect(a?.trace).not.toBe(b?.trace)
    expect(a?.taps).not.toBe(b?.taps)
  })

  it('should start an empty trace and no taps', async () => {
    const { app, seen } = appWithProbe()
    await get(app, '/probe')
    const { requestId: id, trace, taps } = only(seen)
    expect(trace).toEqual(newTrace(id, undefined))
    expect(taps).toEqual([])
  })

  it('should return the id on an error response too', async () => {
    const { app } = appWithProbe()
    const res = await get(app, '/fail', 'trace-me')
    expect(res.status).toBe(401)
    expect(res.headers.get('x-request-id')).toBe('trace-me')
  })
})
