/**
 * Routing rules inside workerd: an organisation's rule orders targets by its strategy and
 * dispatch falls over to the next target when one fails before its first byte — across providers,
 * with translation — invisibly to the client; a request the provider refused as wrong (4xx) is not
 * retried elsewhere; all targets failing is one 502 that names each attempt and nothing secret.
 *
 * What these tests assert must not depend on how fast the machine is:
 * - Round-robin positions (per rule) and circuit breakers (per target) live in the isolate, which
 *   every test of this file shares — with the requests of a test that timed out, too, which run on.
 *   So each gateway has an organisation of its own, and each test target names of its own.
 * - A breaker a test needs to stay open gets a cool-down no run can outlast, so no half-open probe
 *   falls within it however slow the run (probes are tested with a controlled clock in
 *   `src/routing/breaker.test.ts` and `health.test.ts`, and across isolates in the e2e suite).
 * - Hundreds of requests run a few at a time, which bounds the time they take on any machine
 *   without changing what is counted.
 * - One-off costs are paid before the first test, not inside its budget.
 */
import { beforeAll, describe, expect, it } from 'vitest'
import type { RoutingRuleRow } from '../../src/stores/embedded/tenants-file'
import { NOW, tenantsFile } from '../support/tenants-file'
import { authHeaders, fakeUrl, gatewayWithBindings, received, uniqueTag } from './helpers'

/**
 * An upstream that cannot be reached, at once and on any machine: nothing can listen on port 0,
 * so the kernel refuses the connection — no timeout is involved, and no other process can be
 * listening there by chance (as on a fixed port such as 9, the discard service's).
 */
const UNREACHABLE = 'http://127.0.0.1:0/v1'

/** Longer than any run of this file: a circuit opened during a test stays open to its end. */
const NO_PROBE_DURING_RUN_MS = 3_600_000

/** Requests in flight at once in the tests that send several. */
const CONCURRENCY = 8

/**
 * Each test's own budget. The work of every test is bounded — a few requests through workerd and
 * the fake providers, backoffs of at most 200 ms, at most two seconds a 429 asks to wait — and
 * takes a second or two on an idle machine; but on a loaded one thirteen requests in a row were
 * seen to take seven, and Vitest's 5 s default leaves no room for that. This only catches a hang.
 */
const TEST_TIMEOUT_MS = 60_000

/** A name no other test uses: breakers and latency are kept per target name, per isolate. */
const fresh = (name: string): string => `${name}-${uniqueTag().slice(0, 8)}`

/**
 * A gateway whose only tenant — an organisation of its own, so its round-robin position is its
 * own — has `rule`; returns a request function with that tenant's key. Its requests share one
 * bindings object, as in workerd: the configuration is parsed once, not once per request.
 */
const gatewayWith = async (
  rule: Pick<RoutingRuleRow, 'strategy' | 'targets'>,
  settings: Record<string, string> = {},
) => {
  const orgId = `org_${uniqueTag()}`
  const { key, file: tenants } = await tenantsFile(orgId, {
    routing_rules: [
      {
        id: `rule_${orgId}`,
        org_id: orgId,
        api_key_id: null,
        model: null,
        created_at: NOW,
        updated_at: NOW,
        ...rule,
      },
    ],
  })
  const gateway = gatewayWithBindings({
    FLOOPY_TENANTS: JSON.stringify(tenants),
    FLOOPY_DEV_API_KEY: undefined,
    // A provider no connection reaches: the failing primary.
    FLOOPY_CUSTOM_PROVIDERS: JSON.stringify([
      { id: 'dead', baseUrl: UNREACHABLE, apiKey: 'sk-dead-provider-secret-key' },
      { id: 'local', baseUrl: `${fakeUrl()}/custom/v1`, apiKey: 'test-local-upstream-secret' },
    ]),
    ...settings,
  })
  return (body: Record<string, unknown>, headers: Record<string, string> = {}) =>
    gateway(
      new Request('http://gateway/v1/chat/completions', {
        method: 'POST',
        headers: { ...authHeaders(headers), authorization: `Bearer ${key}` },
        body: JSON.stringify({ messages: [{ role: 'user', content: 'Hi' }], ...body }),
      }),
    )
}

/**
 * Runs `task` for 0 … count − 1, `CONCURRENCY` at a time, and returns the results in that order.
 * Tasks should not assert (assert on the results): after a failure no new task starts, and the
 * ones under way are waited for, so nothing of this test runs on into the next.
 */
const inParallel = async <T>(count: number, task: (index: number) => Promise<T>): Promise<T[]> => {
  const results: T[] = []
  let next = 0
  let failed = false
  const worker = async (): Promise<void> => {
    while (!failed && next < count) {
      const index = next++
      try {
        results[index] = await task(index)
      } catch (err) {
        failed = true
        throw err
      }
    }
  }
  const settled = await Promise.allSettled(Array.from({ length: CONCURRENCY }, worker))
  for (const outcome of settled) if (outcome.status === 'rejected') throw outcome.reason
  return results
}

/** Sets fault headers on every request the fake providers get for `model`. */
const fault = async (model: string, headers: Record<string, string>): Promise<void> => {
  const res = await fetch(`${fakeUrl()}/__fake/faults`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, headers }),
  })
  expect(res.status).toBe(200)
}

/** Removes them (from a `finally`: it asserts nothing, so as not to hide the test's own failure). */
const heal = async (model: string): Promise<void> => {
  const res = await fetch(`${fakeUrl()}/__fake/faults?model=${encodeURIComponent(model)}`, {
    method: 'DELETE',
  })
  await res.body?.cancel()
}

// The first request to each fake provider costs seconds on an idle machine (the OpenAI schema
// its request bodies are checked against is parsed and compiled then), and many more on a busy
// one, as does workerd's first request: paid here, once, rather than in whichever test runs first
// (the hook's timeout, like the tests', only catches a hang).
beforeAll(async () => {
  for (const provider of ['openai', 'anthropic', 'groq', 'local']) {
    const chat = await gatewayWith({
      strategy: 'fallback',
      targets: [
        { provider, model: fresh('warm-up') },
        { provider: 'openai', model: fresh('warm-up') },
      ],
    })
    for (const stream of [false, true]) {
      const res = await chat({ model: 'any', stream })
      expect(res.status).toBe(200)
      expect(res.headers.get('floopy-provider')).toBe(provider)
    }
  }
}, 120_000)

describe('routing rules', { timeout: TEST_TIMEOUT_MS }, () => {
  it('should fall over to the next target when the first cannot be reached', async () => {
    const fallback = fresh('gpt-4o-mini')
    const chat = await gatewayWith({
      strategy: 'fallback',
      targets: [
        { provider: 'dead', model: fresh('some-model') },
        { provider: 'openai', model: fallback },
      ],
    })
    const res = await chat({ model: 'gpt-4o-mini' })
    expect(res.status).toBe(200)
    expect(res.headers.get('floopy-provider')).toBe('openai')
    expect(res.headers.get('floopy-model')).toBe(fallback)
    // Two tries on the unreachable target (one retry after a jittered backoff), then the next.
    expect(res.headers.get('floopy-attempts')).toBe('3')
    const body = await res.json<{ object: string; choices: unknown[] }>()
    expect(body.object).toBe('chat.completion')
  })

  it('should fall over across providers, translating for the next one', async () => {
    const claude = fresh('claude-sonnet-4-5')
    const chat = await gatewayWith({
      strategy: 'fallback',
      targets: [
        { provider: 'dead', model: fresh('gpt-4o') },
        { provider: 'anthropic', model: claude },
      ],
    })
    const res = await chat({ model: 'gpt-4o' })
    expect(res.status).toBe(200)
    expect(res.headers.get('floopy-provider')).toBe('anthropic')
    expect(res.headers.get('floopy-model')).toBe(claude)
    const body = await res.json<{ object: string; choices: { message: { content: string } }[] }>()
    expect(body.object).toBe('chat.completion')
    expect(body.choices[0]?.message.content.length).toBeGreaterThan(0)
  })

  it('should serve a stream from the next target with no trace of the failure', async () => {
    const chat = await gatewayWith({
      strategy: 'fallback',
      targets: [
        { provider: 'dead', model: fresh('m') },
        { provider: 'openai', model: fresh('gpt-4o-mini') },
      ],
    })
    const res = await chat({ model: 'gpt-4o-mini', stream: true })
    expect(res.status).toBe(200)
    const text = await res.text()
    expect(text).not.toContain('event: error')
    expect(text.trimEnd().endsWith('data: [DONE]')).toBe(true)
  })

  it('should answer 502 NO_PROVIDER_AVAILABLE naming each attempt when every target fails', async () => {
    const [a, b] = [fresh('a'), fresh('b')]
    const chat = await gatewayWith({
      strategy: 'fallback',
      targets: [
        { provider: 'dead', model: a },
        { provider: 'dead', model: b },
      ],
    })
    const res = await chat({ model: 'x' })
    expect(res.status).toBe(502)
    expect(res.headers.get('floopy-attempts')).toBe('4')
    const text = await res.text()
    const body = JSON.parse(text) as { error: { code: string; message: string } }
    expect(body.error.code).toBe('NO_PROVIDER_AVAILABLE')
    expect(body.error.message).toContain(`dead/${a}: 502 PROVIDER_ERROR`)
    expect(body.error.message).toContain(`dead/${b}: 502 PROVIDER_ERROR`)
    expect(text).not.toContain('sk-dead-provider-secret-key')
  })

  it('should retry a target after a 429 and honour its Retry-After', async () => {
    const chat = await gatewayWith({
      strategy: 'fallback',
      targets: [
        { provider: 'openai', model: fresh('gpt-4o-mini') },
        { provider: 'groq', model: fresh('llama-3.3-70b-versatile') },
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
  })

  it('should not send a request the provider refused as wrong to the next target', async () => {
    const chat = await gatewayWith({
      strategy: 'fallback',
      targets: [
        { provider: 'openai', model: fresh('gpt-4o-mini') },
        { provider: 'local', model: fresh('llama3.2') },
      ],
    })
    const tag = uniqueTag()
    const res = await chat({ model: 'gpt-4o-mini' }, { 'x-fake-status': '400', 'x-fake-tag': tag })
    expect(res.status).toBe(400)
    expect((await received(tag)).map((r) => r.provider)).toEqual(['openai'])
  })

  it('should try the next target after a 5xx or a 429 from the first', async () => {
    // The three run side by side, each with target names of its own (faults must not open
    // circuits anything else relies on); the assertions come once all three have answered.
    const statuses = ['500', '429', '503']
    const outcomes = await inParallel(statuses.length, async (index) => {
      const status = statuses[index] ?? ''
      const chat = await gatewayWith({
        strategy: 'fallback',
        targets: [
          { provider: 'openai', model: fresh('gpt-4o-mini') },
          { provider: 'anthropic', model: fresh('claude-sonnet-4-5') },
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
      return { status, providers, attempts: res.headers.get('floopy-attempts') }
    })
    for (const { status, providers, attempts } of outcomes) {
      // Retried once on the first target, then the second, itself tried twice.
      expect(providers, status).toEqual(['openai', 'openai', 'anthropic', 'anthropic'])
      expect(attempts, status).toBe('4')
    }
  })

  it('should try each target as often as FLOOPY_TRIES_PER_TARGET says', async () => {
    const chat = await gatewayWith(
      {
        strategy: 'fallback',
        targets: [
          { provider: 'openai', model: fresh('gpt-4o-mini') },
          { provider: 'anthropic', model: fresh('claude-sonnet-4-5') },
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
    const primary = fresh('gpt-4o-mini')
    const rule = {
      strategy: 'fallback' as const,
      targets: [
        { provider: 'openai', model: primary },
        { provider: 'groq', model: fresh('llama-3.3-70b-versatile') },
      ],
    }
    // Only the primary is rate-limited, and asks for a 5 s pause before the next try.
    await fault(primary, { 'x-fake-status': '429', 'x-fake-retry-after': '5' })
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
      // The Retry-After asked for 5 s; two tries without it take milliseconds (and, on a loaded
      // machine, still far less than the 4 s allowed).
      expect(waited).toBeLessThan(4_000)
    } finally {
      await heal(primary)
    }
  })

  it('should skip a target whose circuit opened after repeated failures', async () => {
    const chat = await gatewayWith(
      {
        strategy: 'fallback',
        targets: [
          { provider: 'dead', model: fresh('breaker') },
          { provider: 'openai', model: fresh('gpt-4o-mini') },
        ],
      },
      // However long the 13 requests take, the circuit stays open to the last: no probe is due.
      { FLOOPY_BREAKER_COOLDOWN_MS: String(NO_PROBE_DURING_RUN_MS) },
    )
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

  it(
    'should serve at least 99.9 % of 2,000 requests through the fallback while the primary is down',
    async () => {
      const chat = await gatewayWith(
        {
          strategy: 'fallback',
          targets: [
            { provider: 'dead', model: fresh('outage') },
            { provider: 'openai', model: fresh('gpt-4o-mini') },
          ],
        },
        // Once open, the primary's circuit stays open for the rest of the run, however long the
        // machine takes over it: what is counted below cannot depend on the run's length.
        { FLOOPY_BREAKER_COOLDOWN_MS: String(NO_PROBE_DURING_RUN_MS) },
      )
      const answers = await inParallel(2000, async () => {
        const res = await chat({ model: 'any' })
        return { status: res.status, attempts: Number(res.headers.get('floopy-attempts') ?? '1') }
      })
      const served = answers.filter((answer) => answer.status === 200).length
      // Attempts beyond the one that answered went to the dead primary.
      const triedDead = answers.reduce((sum, answer) => sum + answer.attempts - 1, 0)
      expect(served / 2000).toBeGreaterThanOrEqual(0.999)
      // Ten failures open its circuit. After that only tries already under way reach the primary:
      // one per other request in flight (7), or two should the isolate's memo briefly lag behind
      // its own reports (`src/routing/health.ts`) — 24 at most, whatever the run's length.
      expect(triedDead).toBeLessThanOrEqual(10 + 2 * 8)
    },
    // 2,000 requests (each with its request log record, Queue and ClickHouse included), eight at
    // a time: seconds on an idle machine, over two minutes seen with the machine loaded ten times
    // over. Nothing asserted depends on how long it takes; this only catches a hang.
    600_000,
  )

  it('should rotate round-robin targets', async () => {
    // A gateway of its own: the rotation is this rule's alone, and starts here.
    const chat = await gatewayWith({
      strategy: 'round-robin',
      targets: [
        { provider: 'openai', model: fresh('gpt-4o-mini') },
        { provider: 'groq', model: fresh('llama-3.3-70b-versatile') },
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

  it(
    'should split weighted targets by their weights',
    async () => {
      const chat = await gatewayWith({
        strategy: 'weighted',
        targets: [
          { provider: 'openai', model: fresh('gpt-4o-mini'), weight: 3 },
          { provider: 'groq', model: fresh('llama-3.3-70b-versatile'), weight: 1 },
        ],
      })
      const n = 400
      const providers = await inParallel(n, async () => {
        const res = await chat({ model: 'any' })
        return res.headers.get('floopy-provider')
      })
      const openai = providers.filter((provider) => provider === 'openai').length
      // Binomial(400, 0.75): mean 300, standard deviation ≈ 8.7; 4.5 σ either side.
      expect(openai).toBeGreaterThan(300 - 39)
      expect(openai).toBeLessThan(300 + 39)
    },
    // 400 requests, eight at a time: a few seconds idle, several times that loaded; a hang guard.
    120_000,
  )
})
