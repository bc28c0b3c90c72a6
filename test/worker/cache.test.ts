/**
 * The response cache inside workerd with the embedded stores (isolate memory, the local
 * embedder): exact hits for identical requests whichever way they stream, the similarity tiers for
 * a paraphrase and never for a contradiction, the request's switches (no-cache, no-store,
 * force-refresh, namespace, TTL, threshold), tenants sealed from each other, incomplete answers
 * never stored, and the provider called only on a miss.
 */
import { describe, expect, it } from 'vitest'
import type { Bindings } from '../../src/env'
import { createGateway } from '../../src/gateway'
import { mergeTenants, tenantsFile, type TestTenant } from '../support/tenants-file'
import { parseSse, received, uniqueTag, withBindings } from './helpers'
import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test'
import { env } from 'cloudflare:workers'

/**
 * One gateway (one set of embedded stores) for the tenants given, kept across requests as an
 * isolate keeps it; each call waits for the request's after-response work (the cache store).
 */
const gatewayFor = (...tenants: TestTenant[]) => {
  const [first, ...rest] = tenants
  if (first === undefined) throw new Error('a tenant is needed')
  const file = rest.reduce((all, t) => mergeTenants(all, t.file), first.file)
  const bindings = {
    ...(env as Record<string, unknown>),
    FLOOPY_TENANTS: JSON.stringify(file),
  } as Bindings
  delete (bindings as Record<string, unknown>).FLOOPY_DEV_API_KEY
  const gateway = createGateway()
  return async (
    tenant: TestTenant,
    body: Record<string, unknown>,
    headers: Record<string, string> = {},
    path = '/v1/chat/completions',
  ): Promise<{ res: Response; text: string }> => {
    const ctx = createExecutionContext()
    const res = await gateway.fetch(
      new Request(`http://gateway${path}`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${tenant.key}`,
          'content-type': 'application/json',
          ...headers,
        },
        body: JSON.stringify(body),
      }),
      bindings,
      ctx,
    )
    const text = await res.text()
    await waitOnExecutionContext(ctx)
    return { res, text }
  }
}

const enabled = { cache: { enabled: true } }

const chat = (content: string, extra: Record<string, unknown> = {}) => ({
  model: 'openai/gpt-4o-mini',
  messages: [{ role: 'user', content }],
  ...extra,
})

describe('the exact tier', () => {
  it('should answer an identical request from the cache, once the first is stored', async () => {
    const acme = await tenantsFile('org_exact', {}, { settings: enabled })
    const send = gatewayFor(acme)
    const tag = uniqueTag()
    const first = await send(acme, chat('What is the capital of France?'), { 'x-fake-tag': tag })
    expect(first.res.headers.get('floopy-cache')).toBe('MISS')
    const second = await send(acme, chat('What is the capital of France?'), { 'x-fake-tag': tag })
    expect(second.res.status).toBe(200)
    expect(second.res.headers.get('floopy-cache')).toBe('HIT')
    expect(second.res.headers.get('floopy-cache-tier')).toBe('exact')
    expect(Number(second.res.headers.get('age'))).toBeGreaterThanOrEqual(0)
    expect(second.res.headers.get('floopy-cache-similarity')).toBeNull()
    expect(JSON.parse(second.text)).toEqual(JSON.parse(first.text))
    expect(await received(tag)).toHaveLength(1)
  })

  it('should serve a stored answer as a stream, and a streamed one as JSON', async () => {
    const acme = await tenantsFile('org_stream', {}, { settings: enabled })
    const send = gatewayFor(acme)
    const tag = uniqueTag()
    await send(acme, chat('Name three colours.'), { 'x-fake-tag': tag })
    const streamed = await send(
      acme,
      chat('Name three colours.', { stream: true, stream_options: { include_usage: true } }),
      { 'x-fake-tag': tag },
    )
    expect(streamed.res.headers.get('floopy-cache')).toBe('HIT')
    expect(streamed.res.headers.get('content-type')).toMatch(/^text\/event-stream/)
    const events = parseSse(streamed.text)
    expect(events.at(-1)?.data).toBe('[DONE]')
    const usage = events.map((e) => e.data).filter((d) => d.includes('"choices":[]'))
    expect(usage).toHaveLength(1)

    // The other way round: a stream stored, then asked for as JSON.
    await send(acme, chat('Count to five.', { stream: true }), { 'x-fake-tag': tag })
    const json = await send(acme, chat('Count to five.'), { 'x-fake-tag': tag })
    expect(json.res.headers.get('floopy-cache')).toBe('HIT')
    const body = JSON.parse(json.text) as { object: string; choices: { message: unknown }[] }
    expect(body.object).toBe('chat.completion')
    expect(body.choices[0]?.message).toMatchObject({ role: 'assistant' })
    expect(await received(tag)).toHaveLength(2)
  })

  it('should never share an answer between organisations', async () => {
    const acme = await tenantsFile('org_acme', {}, { settings: enabled })
    const beta = await tenantsFile('org_beta', {}, { settings: enabled })
    const send = gatewayFor(acme, beta)
    const tag = uniqueTag()
    await send(acme, chat('Same words, two tenants.'), { 'x-fake-tag': tag })
    const other = await send(beta, chat('Same words, two tenants.'), { 'x-fake-tag': tag })
    expect(other.res.headers.get('floopy-cache')).toBe('MISS')
    expect(await received(tag)).toHaveLength(2)
  })

  it('should cache embeddings, exactly', async () => {
    const acme = await tenantsFile('org_embed', {}, { settings: enabled })
    const send = gatewayFor(acme)
    const tag = uniqueTag()
    const body = { model: 'openai/text-embedding-3-small', input: ['a', 'b'] }
    await send(acme, body, { 'x-fake-tag': tag }, '/v1/embeddings')
    const hit = await send(acme, body, { 'x-fake-tag': tag }, '/v1/embeddings')
    expect(hit.res.headers.get('floopy-cache')).toBe('HIT')
    expect(await received(tag)).toHaveLength(1)
  })
})

describe('the request’s switches', () => {
  it('should bypass with no-cache, skip storing with no-store, and refresh on demand', async () => {
    const acme = await tenantsFile('org_switches', {}, { settings: enabled })
    const send = gatewayFor(acme)
    const tag = uniqueTag()
    const q = chat('Switches?')
    const noStore = await send(acme, q, { 'x-fake-tag': tag, 'cache-control': 'no-store' })
    expect(noStore.res.headers.get('floopy-cache')).toBe('MISS')
    expect((await send(acme, q, { 'x-fake-tag': tag })).res.headers.get('floopy-cache')).toBe(
      'MISS',
    )
    const bypass = await send(acme, q, { 'x-fake-tag': tag, 'cache-control': 'no-cache' })
    expect(bypass.res.headers.get('floopy-cache')).toBe('BYPASS')
    const refresh = await send(acme, q, { 'x-fake-tag': tag, 'floopy-cache-force-refresh': 'true' })
    expect(refresh.res.headers.get('floopy-cache')).toBe('REFRESH')
    expect((await send(acme, q, { 'x-fake-tag': tag })).res.headers.get('floopy-cache')).toBe('HIT')
    expect(await received(tag)).toHaveLength(4)
  })

  it('should partition by namespace, and leave the cache off when the request says so', async () => {
    const acme = await tenantsFile('org_ns', {}, { settings: enabled })
    const send = gatewayFor(acme)
    const tag = uniqueTag()
    const q = chat('Namespaced?')
    await send(acme, q, { 'x-fake-tag': tag, 'floopy-cache-namespace': 'team-a' })
    const b = await send(acme, q, { 'x-fake-tag': tag, 'floopy-cache-namespace': 'team-b' })
    expect(b.res.headers.get('floopy-cache')).toBe('MISS')
    const a = await send(acme, q, { 'x-fake-tag': tag, 'floopy-cache-namespace': 'team-a' })
    expect(a.res.headers.get('floopy-cache')).toBe('HIT')
    const off = await send(acme, q, {
      'x-fake-tag': tag,
      'floopy-cache-namespace': 'team-a',
      'floopy-cache-enabled': 'false',
    })
    expect(off.res.headers.get('floopy-cache')).toBeNull()
    expect(await received(tag)).toHaveLength(3)
  })

  it('should cache for an organisation that has it off only when the request turns it on', async () => {
    const plain = await tenantsFile('org_plain')
    const send = gatewayFor(plain)
    const tag = uniqueTag()
    const q = chat('Opt in?')
    expect((await send(plain, q, { 'x-fake-tag': tag })).res.headers.get('floopy-cache')).toBeNull()
    await send(plain, q, { 'x-fake-tag': tag, 'floopy-cache-enabled': 'true' })
    const hit = await send(plain, q, { 'x-fake-tag': tag, 'floopy-cache-enabled': 'true' })
    expect(hit.res.headers.get('floopy-cache')).toBe('HIT')
  })

  it.each([
    ['floopy-cache-ttl', '59'],
    ['floopy-cache-ttl', '2592001'],
    ['floopy-cache-ttl', 'soon'],
    ['floopy-cache-namespace', 'Team A'],
    ['floopy-cache-threshold', '1.5'],
    ['floopy-cache-enabled', 'yes'],
  ])('should refuse %s: %s with a 400 naming it', async (header, value) => {
    const acme = await tenantsFile('org_bad', {}, { settings: enabled })
    const res = await withBindings(
      { FLOOPY_TENANTS: JSON.stringify(acme.file), FLOOPY_DEV_API_KEY: undefined },
      new Request('http://gateway/v1/chat/completions', {
        method: 'POST',
        headers: {
          authorization: `Bearer ${acme.key}`,
          'content-type': 'application/json',
          [header]: value,
        },
        body: JSON.stringify(chat('x')),
      }),
    )
    expect(res.status).toBe(400)
    const error = await res.json<{ error: { code: string; param: string } }>()
    expect(error.error).toMatchObject({ code: 'INVALID_REQUEST', param: header })
  })
})

describe('the similarity tiers (local embedder)', () => {
  it('should answer a paraphrase from the semantic tier, naming the similarity', async () => {
    const acme = await tenantsFile('org_semantic', {}, { settings: enabled })
    const send = gatewayFor(acme)
    const tag = uniqueTag()
    await send(acme, chat('How do I reset my password?'), { 'x-fake-tag': tag })
    const hit = await send(acme, chat('how do i reset my password'), { 'x-fake-tag': tag })
    expect(hit.res.headers.get('floopy-cache')).toBe('HIT')
    expect(hit.res.headers.get('floopy-cache-tier')).toBe('semantic')
    expect(Number(hit.res.headers.get('floopy-cache-similarity'))).toBeGreaterThanOrEqual(0.95)
    expect(hit.res.headers.get('floopy-cache-similarity')).toMatch(/^\d\.\d{4}$/)
    expect(await received(tag)).toHaveLength(1)
  })

  it('should never answer a contradiction, however similar', async () => {
    const acme = await tenantsFile(
      'org_guard',
      {},
      { settings: enabled, features: { has_advanced_cache: true } },
    )
    const send = gatewayFor(acme)
    const tag = uniqueTag()
    for (const [a, b] of [
      ['Turn on dark mode', 'Turn off dark mode'],
      ['Set the timer to 5 minutes', 'Set the timer to 10 minutes'],
      ['Do not delete the backup', 'Delete the backup'],
    ] as const) {
      await send(acme, chat(a), { 'x-fake-tag': tag })
      const other = await send(acme, chat(b), { 'x-fake-tag': tag })
      expect(other.res.headers.get('floopy-cache'), `${a} / ${b}`).toBe('MISS')
    }
    expect(await received(tag)).toHaveLength(6)
  })

  it('should keep the scope: another system prompt or model is another question', async () => {
    const acme = await tenantsFile('org_scope', {}, { settings: enabled })
    const send = gatewayFor(acme)
    const tag = uniqueTag()
    const ask = (system: string, model = 'openai/gpt-4o-mini') =>
      send(
        acme,
        {
          model,
          messages: [
            { role: 'system', content: system },
            { role: 'user', content: 'Summarise our refund policy' },
          ],
        },
        { 'x-fake-tag': tag },
      )
    await ask('Answer in English.')
    expect((await ask('Answer in French.')).res.headers.get('floopy-cache')).toBe('MISS')
    expect((await ask('Answer in English.', 'openai/gpt-4o')).res.headers.get('floopy-cache')).toBe(
      'MISS',
    )
    expect((await ask('Answer in English.')).res.headers.get('floopy-cache-tier')).toBe('exact')
  })

  it('should serve from the bucketed tier for a plan that has it, below the semantic threshold', async () => {
    const acme = await tenantsFile(
      'org_bucket',
      {},
      {
        settings: { cache: { enabled: true, threshold: 1 } },
        features: { has_advanced_cache: true },
      },
    )
    const send = gatewayFor(acme)
    const tag = uniqueTag()
    await send(acme, chat('How do I reset my password?'), { 'x-fake-tag': tag })
    const hit = await send(acme, chat('How can I reset my password?'), { 'x-fake-tag': tag })
    expect(hit.res.headers.get('floopy-cache')).toBe('HIT')
    expect(hit.res.headers.get('floopy-cache-tier')).toBe('bucket')
    expect(Number(hit.res.headers.get('floopy-cache-similarity'))).toBeGreaterThanOrEqual(0.9)
  })

  it('should not use the bucketed tier without the plan flag', async () => {
    const acme = await tenantsFile(
      'org_nobucket',
      {},
      {
        settings: { cache: { enabled: true, threshold: 1 } },
      },
    )
    const send = gatewayFor(acme)
    const tag = uniqueTag()
    await send(acme, chat('How do I reset my password?'), { 'x-fake-tag': tag })
    const miss = await send(acme, chat('How can I reset my password?'), { 'x-fake-tag': tag })
    expect(miss.res.headers.get('floopy-cache')).toBe('MISS')
  })
})

describe('what is stored', () => {
  it('should not store a stream that broke off', async () => {
    const acme = await tenantsFile('org_cut', {}, { settings: enabled })
    const send = gatewayFor(acme)
    const tag = uniqueTag()
    const q = chat('Cut me off.', { stream: true })
    await send(acme, q, { 'x-fake-tag': tag, 'x-fake-cut-after': '2' })
    const again = await send(acme, q, { 'x-fake-tag': tag })
    expect(again.res.headers.get('floopy-cache')).toBe('MISS')
    expect(await received(tag)).toHaveLength(2)
  })

  it('should not store a provider error', async () => {
    const acme = await tenantsFile('org_err', {}, { settings: enabled })
    const send = gatewayFor(acme)
    const tag = uniqueTag()
    const q = chat('Fail me.')
    const failed = await send(acme, q, { 'x-fake-tag': tag, 'x-fake-status': '500' })
    expect(failed.res.status).toBe(502)
    expect((await send(acme, q, { 'x-fake-tag': tag })).res.headers.get('floopy-cache')).toBe(
      'MISS',
    )
  })
})
