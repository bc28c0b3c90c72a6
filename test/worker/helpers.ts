/** @module Helpers for the workerd integration tests: calling the gateway, reading SSE, the fakes. */
import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test'
import { env, exports } from 'cloudflare:workers'
import { inject } from 'vitest'
import { createGateway } from '../../src/gateway'
import type { Bindings } from '../../src/env'
import { TEST_DEV_API_KEY } from '../support/bindings'
import type { RecordedRequest } from '../support/recorded-request'

export const fakeUrl = (): string => inject('fakeProvidersUrl')

/** The Worker under test (its default export), configured by wrangler.toml + the test bindings. */
const worker = (exports as unknown as { default: Fetcher }).default

/** Fetches from the Worker under test; the host part of `url` is irrelevant. */
export const gatewayFetch = (url: string, init?: RequestInit): Promise<Response> =>
  worker.fetch(url, init)

export const authHeaders = (extra: Record<string, string> = {}): Record<string, string> => ({
  authorization: `Bearer ${TEST_DEV_API_KEY}`,
  'content-type': 'application/json',
  ...extra,
})

/** POSTs JSON to the gateway (the Worker under test, configured by wrangler.toml + test bindings). */
export const post = (
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<Response> =>
  gatewayFetch(`http://gateway${path}`, {
    method: 'POST',
    headers: authHeaders(headers),
    body: JSON.stringify(body),
  })

/**
 * A gateway app with the test bindings plus `overrides` (undefined removes a binding), serving
 * every request it is given with the same bindings object — as workerd does, so configuration is
 * parsed once and its stores are shared by those requests. Each body is read before the request's
 * after-response work is awaited — the request log waits for a body's end — and returned buffered.
 */
export const gatewayWithBindings = (
  overrides: Partial<Record<keyof Bindings, string | undefined>>,
): ((request: Request) => Promise<Response>) => {
  const bindings: Record<string, unknown> = { ...(env as Record<string, unknown>) }
  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined) Reflect.deleteProperty(bindings, key)
    else bindings[key] = value
  }
  const gateway = createGateway()
  return async (request) => {
    const ctx = createExecutionContext()
    const res = await gateway.fetch(request, bindings, ctx)
    const body = await res.arrayBuffer()
    await waitOnExecutionContext(ctx)
    return new Response(body, { status: res.status, headers: res.headers })
  }
}

/** Runs `request` through a fresh gateway app (`gatewayWithBindings`): its configuration is new. */
export const withBindings = (
  overrides: Partial<Record<keyof Bindings, string | undefined>>,
  request: Request,
): Promise<Response> => gatewayWithBindings(overrides)(request)

/** What the fake providers received for requests carrying `x-fake-tag: <tag>`. */
export const received = async (tag: string): Promise<RecordedRequest[]> => {
  const res = await fetch(`${fakeUrl()}/__fake/requests?tag=${encodeURIComponent(tag)}`)
  return await res.json<RecordedRequest[]>()
}

export const uniqueTag = (): string => crypto.randomUUID()

export type SseMessage = { event: string | undefined; data: string }

/** Parses a whole SSE body into its events (data joined per event; comments skipped). */
export const parseSse = (text: string): SseMessage[] =>
  text
    .split(/\n\n/)
    .filter((block) => block.trim() !== '')
    .flatMap((block) => {
      let event: string | undefined
      const data: string[] = []
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) event = line.slice(6).trim()
        else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''))
      }
      return data.length === 0 ? [] : [{ event, data: data.join('\n') }]
    })

/** The JSON chunks of a chat stream (everything but `[DONE]` and error events). */
export const chunksOf = (messages: SseMessage[]): Record<string, unknown>[] =>
  messages
    .filter((m) => m.data !== '[DONE]' && m.event !== 'error')
    .map((m) => JSON.parse(m.data) as Record<string, unknown>)

/** The chunks carrying a (non-null) usage object. */
export const usageChunks = (chunks: Record<string, unknown>[]): Record<string, unknown>[] =>
  chunks.filter((c) => c.usage !== undefined && c.usage !== null)

export const chat = (model: string, extra: Record<string, unknown> = {}) => ({
  model,
  messages: [{ role: 'user', content: 'What is the weather in San Francisco?' }],
  ...extra,
})
