/**
 * Routing rules inside workerd: an organisation's rule orders targets by its strategy and
 * dispatch falls over to the next target when one fails before its first byte — across providers,
 * with translation — invisibly to the client; a request the provider refuses as wrong (4xx) is not
 * retried elsewhere; all targets failing is one 502 that names each attempt and nothing secret.
 */
import { describe, expect, it } from 'vitest'
import { generateApiKey, hashApiKey } from '../../src/security/api-key'
import type { RoutingRuleRow, TenantsFile } from '../../src/stores/embedded/tenants-file'
import { authHeaders, fakeUrl, received, uniqueTag, withBindings } from './helpers'

const NOW = '2026-11-22T00:00:00.000Z'

/** A gateway whose only tenant has `rule`; returns a request function with that tenant's key. */
const gatewayWith = async (
  rule: Pick<RoutingRuleRow, 'strategy' | 'targets'>,
  settings: Record<string, string> = {},
) => {
  const key = generateApiKey('live')
  const tenants: TenantsFile = {
    version: 1,
    organizations: [
      {
        id: 'org_routing',
        slug: 'routing',
        name: 'Routing',
        plan: 'pro',
        subscription_status: 'active',
        monthly_request_limit: null,
        rpm_limit: null,
        features: {},
        created_at: NOW,
        updated_at: NOW,
      },
    ],
    api_keys: [
      {
        id: 'key_routing',
        org_id: 'org_routing',
        name: 'routing',
        key_hash: await hashApiKey(key),
        display_prefix: key.slice(0, 16),
        last4: key.slice(40, 44),
        mode: 'live',
        rpm_limit: null,
        created_at: NOW,
        revoked_at: null,
      },
    ],
    provider_keys: [],
    routing_rules: [
      {
        id: 'rule_routing',
        org_id: 'org_routing',
        api_key_id: null,
        model: null,
        created_at: NOW,
        updated_at: NOW,
        ...rule,
      },
    ],
  }
  const bindings = {
    FLOOPY_TENANTS: JSON.stringify(tenants),
    FLOOPY_DEV_API_KEY: undefined,
    // A provider that refuses every connection: the failing primary.
    FLOOPY_CUSTOM_PROVIDERS: JSON.stringify([
      { id: 'dead', baseUrl: 'http://127.0.0.1:9/v1', apiKey: 'sk-dead-provider-secret-key' },
      { id: 'local', baseUrl: `${fakeUrl()}/custom/v1`, apiKey: 'test-local-upstream-secret' },
    ]),
    ...settings,
  }
  return (body: Record<string, unknown>, headers: Record<string, string> = {}) =>
    withBindings(
      bindings,
      new Request('http://gateway/v1/chat/completions', {
        method: 'POST',
        headers: { ...authHeaders(headers), authorization: `Bearer ${key}` },
        body: JSON.stringify({ messages: [{ role: 'user', content: 'Hi' }], ...body }),
      }),
    )
}

describe('routing rules', () => {
  it('should fall over to the next target when the first cannot be reached', async () => {
    const chat = await gatewayWith({
      strategy: 'fallback',
      targets: [
        { provider: 'dead', model: 'some-model' },
        { provider: 'openai', model: 'gpt-4o-mini' },
      ],
    })
    const res = await chat({ model: 'gpt-4o-mini' })
    expect(res.status).toBe(200)
    expect(res.headers.get('floopy-provider')).toBe('openai')
    // Two tries on the unreachable target (one retry after a jittered backoff), then the next.
    expect(res.headers.get('floopy-attempts')).toBe('3')
    const body = await res.json<{ object: string; choices: unknown[] }>()
    expect(body.object).toBe('chat.completion')
  })

  it('should fall over across providers, translating for the next one', async () => {
    const chat = await gatewayWith({
      strategy: 'fallback',
      targets: [
        { provider: 'dead', model: 'gpt-4o' },
        { provider: 'anthropic', model: 'claude-sonnet-4-5' },
      ],
    })
    const res = await chat({ model: 'gpt-4o' })
    expect(res.status).toBe(200)
    expect(res.headers.get('floopy-provider')).toBe('anthropic')
    expect(res.headers.get('floopy-model')).toBe('claude-sonnet-4-5')
    const body = await res.json<{ object: string; choices: { message: { content: string } }[] }>()
    expect(body.object).toBe('chat.completion')
    expect(body.choices[0]?.message.content.length).toBeGreaterThan(0)
  })

  it('should serve a stream from the next target with no trace of the failure', async () => {
    const chat = await gatewayWith({
      strategy: 'fallback',
      targets: [
        { provider: 'dead', model: 'm' },
        { provider: 'openai', model: 'gpt-4o-mini' },
      ],
    })
    const res = await chat({ model: 'gpt-4o-mini', stream: true })
    expect(res.status).toBe(200)
    const text = await res.text()
    expect(text).not.toContain('event: error')
    expect(text.trimEnd().endsWith('data: [DONE]')).toBe(true)
  })

  it('should answer 502 NO_PROVIDER_AVAILABLE naming each attempt when every target fails', async () => {
    const chat = await gatewayWith({
      strategy: 'fallback',
      targets: [
        { provider: 'dead', model: 'a' },
        { provider: 'dead', model: 'b' },
      ],
    })
    const res = await chat({ model: 'x' })
    expect(res.status).toBe(502)
    expect(res.headers.get('floopy-attempts')).toBe('4')
    const text = await res.text()
    const body = JSON.parse(text) as { error: { code: string; message: string } }
    expect(body.error.code).toBe('NO_PROVIDER_AVAILABLE')
    expect(body.error.message).toContain('dead/a: 502 PROVIDER_ERROR')
    expect(body.error.message).toContain('dead/b: 502 PROVIDER_ERROR')
    expect(text).not.toContain('sk-dead-provider-secret-key')
  })

  it('should retry a target after a 429 and honour its Retry-After', async () => {
    const chat = await gatewayWith({
      strategy: 'fallback',
      targets: [
        { provider: 'openai', model: `gpt-4o-mini-${uniqueTag()}` },
        { provider: 'groq', model: `llama-3.3-70b-versatile-${uniqueTag()}` },
      ],
    })
    const tag = uniqueTag()
    const started = Date.now()
    const res = await chat(
      { model: 'any' },
      { 'x-fake-status': '429', 'x-fake-retry-after': '1', 'x-fake-tag': tag },
    )
    expect(res.status).toBe(502)
    expect((await received(tag)).map((r) => r.provider)).toEqual([
      'openai',
      'openai',
      'groq',
      'groq',
    ])
    // Two waits of the provider's one second (a lower bound, not a timing assertion on speed).
    expect(Date.now() - started).toBeGreaterThanOrEqual(2_000)
  }, 20_000)

  it('should not send a request the provider refused as wrong to the next target', async () => {
    const chat = await gatewayWith({
      strategy: 'fallback',
      targets: [
        { provider: 'openai', model: 'gpt-4o-mini' },
        { provider: 'local', model: 'llama3.2' },
      ],
    })
    const tag = uniqueTag()
    const res = await chat({ model: 'gpt-4o-mini' }, { 'x-fake-status': '400', 'x-fake-tag': tag })
    expect(res.status).toBe(400)
    expect((await received(tag)).map((r) => r.provider)).toEqual(['openai'])
  })

  it('should try the next target after a 5xx or a 429 from the first', async () => {
    for (const status of ['500', '429', '503']) {
      // Fresh target names: the faults must not open circuits other tests rely on.
      const chat = await gatewayWith({
        strategy: 'fallback',
        targets: [
          { provider: 'openai', model: `gpt-4o-mini-${uniqueTag()}` },
          { provider: 'anthropic', model: `claude-sonnet-4-5-${uniqueTag()}` },
        ],
      })
      const tag = uniqueTag()
      // The fault header reaches every target, so the second fails too: what matters is that it
      // was asked, after the first, and that the client sees one answer for both attempts.
      const res = await chat(
        { model: 'gpt-4o-mini' },
        { 'x-fake-status': status, 'x-fake-tag': tag },
      )
      const providers = (await received(tag)).map((r) => r.provider)
      // Retried once on the first target, then the second, itself tried twice.
      expect(providers, status).toEqual(['openai', 'openai', 'anthropic', 'anthropic'])
      expect(res.headers.get('floopy-attempts')).toBe('4')
    }
  })

  it('should try each target as often as FLOOPY_TRIES_PER_TARGET says', async () => {
    const chat = await gatewayWith(
      {
        strategy: 'fallback',
        targets: [
          { provider: 'openai', model: `gpt-4o-mini-${uniqueTag()}` },
          { provider: 'anthropic', model: `claude-sonnet-4-5-${uniqueTag()}` },
        ],
      },
      { FLOOPY_TRIES_PER_TARGET: '1' },
    )
    const tag = uniqueTag()
    const res = await chat({ model: 'gpt-4o-mini' }, { 'x-fake-status': '503', 'x-fake-tag': tag })
    expect(res.status).toBe(502)
    expect((await received(tag)).map((r) => r.provider)).toEqual(['openai', 'anthropic'])
    expect(res.headers.get('floopy-attempts')).toBe('2')
  })

  it('should not wait out a backoff before a retry the circuit that just opened would refuse', async () => {
    const primary = `gpt-4o-mini-${uniqueTag()}`
    const rule = {
      strategy: 'fallback' as const,
      targets: [
        { provider: 'openai', model: primary },
        { provider: 'groq', model: 'llama-3.3-70b-versatile' },
      ],
    }
    // Only the primary is rate-limited, and asks for a 5 s pause before the next try.
    const faulted = await fetch(`${fakeUrl()}/__fake/faults`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        model: primary,
        headers: { 'x-fake-status': '429', 'x-fake-retry-after': '5' },
      }),
    })
    expect(faulted.status).toBe(200)
    try {
      // Nine failures, one try each (no waits): one short of the ten that open the circuit.
      const once = await gatewayWith(rule, { FLOOPY_TRIES_PER_TARGET: '1' })
      for (let i = 0; i < 9; i++) {
        expect((await once({ model: 'any' })).headers.get('floopy-attempts')).toBe('2')
      }
      // The tenth opens it: the second try of the primary is not due, so no 5 s wait for it.
      const twice = await gatewayWith(rule, { FLOOPY_TRIES_PER_TARGET: '2' })
      const tag = uniqueTag()
      const started = Date.now()
      const res = await twice({ model: 'any' }, { 'x-fake-tag': tag })
      const waited = Date.now() - started
      expect(res.status).toBe(200)
      expect(res.headers.get('floopy-provider')).toBe('groq')
      expect(res.headers.get('floopy-attempts')).toBe('2')
      expect((await received(tag)).map((r) => r.provider)).toEqual(['openai', 'groq'])
      expect(waited).toBeLessThan(4_000) // the Retry-After asked for 5 s
    } finally {
      await fetch(`${fakeUrl()}/__fake/faults?model=${encodeURIComponent(primary)}`, {
        method: 'DELETE',
      })
    }
  }, 30_000)

  it('should skip a target whose circuit opened after repeated failures', async () => {
    const dead = `breaker-${uniqueTag()}`
    const chat = await gatewayWith({
      strategy: 'fallback',
      targets: [
        { provider: 'dead', model: dead },
        { provider: 'openai', model: 'gpt-4o-mini' },
      ],
    })
    const attempts: (string | null)[] = []
    for (let i = 0; i < 13; i++) {
      const res = await chat({ model: 'any' })
      expect(res.status).toBe(200)
      attempts.push(res.headers.get('floopy-attempts'))
    }
    // Two failed tries per request; ten failures in the window open the circuit, and from then
    // on the dead target is not tried at all.
    expect(attempts.slice(0, 5)).toEqual(Array<string>(5).fill('3'))
    expect(attempts.slice(5)).toEqual(Array<string>(8).fill('1'))
  })

  it('should serve at least 99.9 % of 2,000 requests through the fallback while the primary is down', async () => {
    const dead = `outage-${uniqueTag()}`
    const chat = await gatewayWith({
      strategy: 'fallback',
      targets: [
        { provider: 'dead', model: dead },
        { provider: 'openai', model: 'gpt-4o-mini' },
      ],
    })
    let served = 0
    let triedDead = 0
    for (let i = 0; i < 2000; i++) {
      const res = await chat({ model: 'any' })
      if (res.status === 200) served++
      // Attempts beyond the one that answered went to the dead primary.
      triedDead += Number(res.headers.get('floopy-attempts') ?? '1') - 1
    }
    expect(served / 2000).toBeGreaterThanOrEqual(0.999)
    // Once its circuit opens (ten failures) the primary gets only the occasional probe: at most
    // one try per 15 s cool-down during this run.
    expect(triedDead).toBeLessThanOrEqual(10 + 2 * 8)
  }, 120_000)

  it('should rotate round-robin targets', async () => {
    const chat = await gatewayWith({
      strategy: 'round-robin',
      targets: [
        { provider: 'openai', model: 'gpt-4o-mini' },
        { provider: 'groq', model: 'llama-3.3-70b-versatile' },
      ],
    })
    const providers: (string | null)[] = []
    for (let i = 0; i < 10; i++) {
      providers.push((await chat({ model: 'any' })).headers.get('floopy-provider'))
    }
    expect(providers.filter((p) => p === 'openai')).toHaveLength(5)
    expect(providers.filter((p) => p === 'groq')).toHaveLength(5)
    for (let i = 1; i < providers.length; i++) expect(providers[i]).not.toBe(providers[i - 1])
  })

  it('should split weighted targets by their weights', async () => {
    const chat = await gatewayWith({
      strategy: 'weighted',
      targets: [
        { provider: 'openai', model: 'gpt-4o-mini', weight: 3 },
        { provider: 'groq', model: 'llama-3.3-70b-versatile', weight: 1 },
      ],
    })
    const n = 400
    let openai = 0
    for (let i = 0; i < n; i++) {
      if ((await chat({ model: 'any' })).headers.get('floopy-provider') === 'openai') openai++
    }
    // Binomial(400, 0.75): mean 300, standard deviation ≈ 8.7; 4.5 σ either side.
    expect(openai).toBeGreaterThan(300 - 39)
    expect(openai).toBeLessThan(300 + 39)
  }, 60_000)
})
