/**
 * @module Reads the request body once, refusing more than `FLOOPY_MAX_BODY_BYTES` (10 MiB) with a
 * 413 — whether the size is declared in `content-length` or only discovered while reading a
 * chunked body. The text is kept in `c.var.rawBody` for the stages after authentication.
 *
 * An oversized body is read and discarded (up to a cap) before the 413 is sent: answering while
 * the client is still uploading makes the runtime reset the connection, and the client then sees
 * a network error — and retries — instead of the 413.
 */
import type { MiddlewareHandler } from 'hono'
import type { StageEnv } from '../../env'
import { GatewayError } from '../../errors'

/** How much of an oversized body is drained, as a multiple of the limit, before giving up. */
const DRAIN_FACTOR = 4

type ReadResult = { text: string } | { tooLarge: true }

/** Reads at most `limit` bytes of `body`; beyond that drains up to `drainCap` bytes and stops. */
export const readLimited = async (
  body: ReadableStream<Uint8Array> | null,
  limit: number,
  drainCap: number,
): Promise<ReadResult> => {
  if (body === null) return { text: '' }
  const reader = body.getReader()
  const parts: Uint8Array[] = []
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.byteLength
    if (size > limit) {
      await drain(reader, drainCap - size)
      return { tooLarge: true }
    }
    parts.push(value)
  }
  const decoder = new TextDecoder()
  let text = ''
  for (const part of parts) text += decoder.decode(part, { stream: true })
  return { text: text + decoder.decode() }
}

const drain = async (reader: ReadableStreamDefaultReader<Uint8Array>, budget: number) => {
  let left = budget
  try {
    while (left > 0) {
      const { done, value } = await reader.read()
      if (done) return
      left -= value.byteLength
    }
    await reader.cancel()
  } catch {
    // The client went away; nothing left to drain.
  }
}

const tooLarge = (limit: number): GatewayError =>
  new GatewayError('PAYLOAD_TOO_LARGE', `The request body exceeds the ${limit} byte limit.`)

/** What this stage sets. */
export type BodyVariables = {
  /** The request body as text, read once. */
  rawBody: string
}

export type BodyLimitOptions = {
  /** `FLOOPY_MAX_BODY_BYTES`. */
  readonly maxBodyBytes: number
}

export const bodyLimit = ({
  maxBodyBytes: limit,
}: BodyLimitOptions): MiddlewareHandler<StageEnv<BodyVariables>> =>
  async function bodyLimit(c, next) {
    if (c.req.method === 'GET' || c.req.method === 'HEAD') return next()
    const declared = Number(c.req.header('content-length') ?? Number.NaN)
    if (declared > limit) {
      if (declared <= limit * DRAIN_FACTOR) await readLimited(c.req.raw.body, 0, declared)
      throw tooLarge(limit)
    }
    if (declared >= 0) {
      // The runtime delivers exactly the declared length, so the native read is bounded already.
      c.set('rawBody', await c.req.raw.text())
      return next()
    }
    const result = await readLimited(c.req.raw.body, limit, limit * DRAIN_FACTOR)
    if ('tooLarge' in result) throw tooLarge(limit)
    c.set('rawBody', result.text)
    await next()
  }
