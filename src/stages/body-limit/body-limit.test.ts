/**
 * The body-limit stage: the body is read once into `rawBody` (bytes counted, not characters, and a
 * character split across chunks decoded whole); more than the limit is refused with 413
 * `PAYLOAD_TOO_LARGE` before the next stage runs, whether the size is declared in
 * `content-length` or only found while reading a chunked body; an oversized chunked body is
 * drained up to four times the limit and then cancelled; GET and HEAD are passed on unread.
 */
import { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import type { StageEnv } from '../../env'
import { toGatewayError } from '../../errors'
import { bodyLimit, readLimited, type BodyVariables } from '.'

const LIMIT = 100
const encoder = new TextEncoder()

/** An app with the stage; the handler echoes `rawBody` and counts its calls. */
const appWithProbe = () => {
  const reached: (string | undefined)[] = []
  const app = new Hono<StageEnv<Partial<BodyVariables>>>()
  app.use(bodyLimit({ maxBodyBytes: LIMIT }))
  app.all('/v1/echo', (c) => {
    reached.push(c.get('rawBody'))
    return c.text(c.get('rawBody') ?? '<unset>')
  })
  app.onError((err) => toGatewayError(err).toResponse(undefined))
  return { app, reached }
}

/** A chunked body (no length declared) made of `chunks`; records how it was consumed. */
const chunked = (chunks: readonly Uint8Array[]) => {
  const queue = [...chunks]
  const seen = { pulled: 0, cancelled: false }
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      const next = queue.shift()
      if (next === undefined) {
        controller.close()
        return
      }
      seen.pulled++
      controller.enqueue(next)
    },
    cancel() {
      seen.cancelled = true
    },
  })
  return { stream, seen }
}

const bytes = (n: number, fill = 0x61): Uint8Array => new Uint8Array(n).fill(fill)

const expectTooLarge = async (res: Response): Promise<void> => {
  expect(res.status).toBe(413)
  expect(await res.json()).toEqual({
    error: {
      message: `The request body exceeds the ${LIMIT} byte limit.`,
      type: 'invalid_request_error',
      code: 'PAYLOAD_TOO_LARGE',
      param: null,
    },
  })
}

describe('bodyLimit', () => {
  it('should read a declared body within the limit into rawBody', async () => {
    const { app, reached } = appWithProbe()
    const body = '{"model":"gpt-4o"}'
    const res = await app.request('/v1/echo', {
      method: 'POST',
      body,
      headers: { 'content-length': String(encoder.encode(body).byteLength) },
    })
    expect(res.status).toBe(200)
    expect(reached).toEqual([body])
  })

  it('should refuse a declared length over the limit with 413, before the next stage', async () => {
    const { app, reached } = appWithProbe()
    const res = await app.request('/v1/echo', {
      method: 'POST',
      body: 'x'.repeat(LIMIT + 1),
      headers: { 'content-length': String(LIMIT + 1) },
    })
    await expectTooLarge(res)
    expect(reached).toEqual([])
  })

  it('should read a chunked body of exactly the limit', async () => {
    const { app, reached } = appWithProbe()
    const { stream } = chunked([bytes(60), bytes(40)])
    const res = await app.request('/v1/echo', { method: 'POST', body: stream })
    expect(res.status).toBe(200)
    expect(reached).toEqual(['a'.repeat(LIMIT)])
  })

  it('should refuse a chunked body that grows past the limit with 413, before the next stage', async () => {
    const { app, reached } = appWithProbe()
    const { stream } = chunked([bytes(60), bytes(41)])
    const res = await app.request('/v1/echo', { method: 'POST', body: stream })
    await expectTooLarge(res)
    expect(reached).toEqual([])
  })

  it('should count bytes, not characters', async () => {
    const { app, reached } = appWithProbe()
    // 60 characters, 120 bytes in UTF-8.
    const { stream } = chunked([encoder.encode('é'.repeat(60))])
    const res = await app.request('/v1/echo', { method: 'POST', body: stream })
    await expectTooLarge(res)
    expect(reached).toEqual([])
  })

  it('should decode a character split across chunks', async () => {
    const { app, reached } = appWithProbe()
    const euro = encoder.encode('€') // three bytes
    const { stream } = chunked([
      Uint8Array.of(0x22, ...euro.subarray(0, 1)),
      Uint8Array.of(...euro.subarray(1), 0x22),
    ])
    const res = await app.request('/v1/echo', { method: 'POST', body: stream })
    expect(res.status).toBe(200)
    expect(reached).toEqual(['"€"'])
  })

  it('should set an empty rawBody for a POST without a body', async () => {
    const { app, reached } = appWithProbe()
    const res = await app.request('/v1/echo', { method: 'POST' })
    expect(res.status).toBe(200)
    expect(reached).toEqual([''])
  })

  it.each(['GET', 'HEAD'])('should pass a %s on without reading a body', async (method) => {
    const { app, reached } = appWithProbe()
    const res = await app.request('/v1/echo', { method })
    expect(res.status).toBe(200)
    expect(reached).toEqual([undefined])
  })
})

describe('readLimited', () => {
  it('should drain an oversized body to its end when it is within the drain cap', async () => {
    const { stream, seen } = chunked([bytes(60), bytes(60), bytes(60)])
    expect(await readLimited(stream, LIMIT, 4 * LIMIT)).toEqual({ tooLarge: true })
    expect(seen.pulled).toBe(3)
    expect(seen.cancelled).toBe(false)
  })

  it('should stop draining at the cap and cancel the rest', async () => {
    const { stream, seen } = chunked(Array.from({ length: 20 }, () => bytes(60)))
    expect(await readLimited(stream, LIMIT, 4 * LIMIT)).toEqual({ tooLarge: true })
    expect(seen.cancelled).toBe(true)
    expect(seen.pulled).toBeLessThan(20)
  })

  it('should read nothing from no body', async () => {
    expect(await readLimited(null, LIMIT, 4 * LIMIT)).toEqual({ text: '' })
  })
})
