/**
 * Routing across isolates, end to end: two production gateways under plain workerd (two isolates)
 * sharing real Redis (Upstash REST bridge) and real PostgreSQL, with routing rules stored through
 * the admin RPC functions and the fake providers failing or slowing down one model at a time
 * (`PUT /__fake/faults`).
 *
 * - A circuit opened by one isolate's failures is skipped by the other, which learns it within
 *   the shared-state round trip it makes anyway (counted at the Redis bridge).
 * - After the cool-down exactly one probe goes out across both isolates; its success closes the
 *   circuit for both.
 * - The latency strategy converges on the faster target, and notices when the slower recovers.
 * - Per-attempt timeouts and the routing deadline; a stream cut after its first byte ends with an
 *   error event and is not switched to another target; whose provider key a target uses.
 * - An OpenAI model failing over to an Anthropic one, through the official SDK: a completion and a
 *   stream valid under the OpenAI spec, with nothing of the failed tries in what the client reads.
 *
 * What is asserted must hold on a loaded machine too: no healthy answer races a time limit (the
 * gateways give a try 5 s, and the tight limits of the deadline test live on a gateway of its own,
 * where no answer is due at all); every target a test relies on is its own; what is slow on
 * purpose is slower by far than the noise of a busy machine.
 */
import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startGateway, type WorkerdGateway } from '../../scripts/workerd.ts'
import { SYNC_INTERVAL_MS } from '../../src/routing/health.ts'
import { parseKeyring, sealProviderKey } from '../../src/security/vault.ts'
import { CONFIG_EPOCH_KEY, targetHealthKey } from '../../src/stores/shared-keys.ts'
import { expectValid as valid } from '../support/e2e.ts'
import { createOrg, issueKey, rpc, useTenancyRig, type Rig } from '../support/tenancy.ts'

const COOL_DOWN_MS = 3_000

/**
 * The time a try has for its response headers. A healthy answer takes milliseconds, and still
 * well under a second on a loaded machine: 5 s is never reached by one, so only the tries that are
 * meant to time out (answers held back `STUCK_MS`) do.
 */
const ATTEMPT_TIMEOUT_MS = 5_000

/** How long a stuck target holds its answer back: far beyond any time limit it is meant to hit. */
const STUCK_MS = 30_000

/**
 * The budget of a test that waits on purpose — out two 5 s attempt timeouts, or a 3 s cool-down
 * and a probe held back half an attempt timeout: ten seconds or so on an idle machine, more on a
 * loaded one. This only catches a hang.
 */
const TEST_TIMEOUT_MS = 60_000

/** How long to wait for what isolates report after a response to reach shared state. */
const SETTLE_MS = 20_000

const rig = useTenancyRig({
  FLOOPY_BREAKER_COOLDOWN_MS: String(COOL_DOWN_MS),
  FLOOPY_ATTEMPT_TIMEOUT_MS: String(ATTEMPT_TIMEOUT_MS),
})

// The fake providers parse and compile a provider's OpenAPI schema on their first request for it
// (seconds on an idle machine, many more on a busy one): paid here, not inside a test.
beforeAll(async () => {
  const { url } = rig().fake
  const messages = [{ role: 'user', content: 'Hi' }]
  const openai = await fetch(`${url}/openai/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer warm-up' },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages }),
  })
  expect(openai.status).toBe(200)
  const anthropic = await fetch(`${url}/anthropic/v1/messages`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-api-key': 'warm-up',
      'anthropic-version': '2023-06-01',
    },
    body: JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 16, messages }),
  })
  expect(anthropic.status).toBe(200)
}, 120_000)

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** A model name no other test uses, so circuits and latencies never leak between tests. */
const fresh = (what: string): string => `${what}-${crypto.randomUUID().slice(0, 8)}`

type Target = { provider: string; model: string; weight?: number; key?: string }

/** OpenAI targets for these models, in this order. */
const openai = (...models: string[]): Target[] =>
  models.map((model) => ({ provider: 'openai', model }))

/** An organisation with a key and an org-wide routing rule; returns the key. */
const tenantWith = async (r: Rig, strategy: string, targets: Target[]) => {
  const org = await createOrg(r)
  const { key } = await issueKey(r, org)
  await rpc(r, 'admin_set_routing_rule', {
    p_org: org.id,
    p_strategy: strategy,
    p_targets: targets,
  })
  await r.kv.incr(CONFIG_EPOCH_KEY) // as the admin CLI does after a change
  return { org, key }
}

/** Makes the fake providers answer every request for `model` as these headers ask. */
const fault = async (r: Rig, model: string, headers: Record<string, string>): Promise<void> => {
  const res = await fetch(`${r.fake.url}/__fake/faults`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, headers }),
  })
  expect(res.status).toBe(200)
}

const heal = async (r: Rig, model: string): Promise<void> => {
  const res = await fetch(`${r.fake.url}/__fake/faults?model=${encodeURIComponent(model)}`, {
    method: 'DELETE',
  })
  expect(res.status).toBe(200)
}

/**
 * A target's breaker status as shared state holds it (`null` while closed), once the isolates'
 * syncs have landed: what a response triggered is synced after it (`waitUntil`), so poll (for
 * milliseconds usually; the bound is for a loaded machine).
 */
const sharedStatus = async (r: Rig, id: string, want: string | null): Promise<string | null> => {
  const until = Date.now() + SETTLE_MS
  let status = await r.kv.hget<string>(targetHealthKey(id), 's')
  while (status !== want && Date.now() < until) {
    await sleep(25)
    status = await r.kv.hget<string>(targetHealthKey(id), 's')
  }
  return status
}

/** Requests the fake providers received for `model`. */
const hits = (r: Rig, model: string): number =>
  r.fake.requests.filter(
    (entry) =>
      typeof entry.body === 'object' &&
      entry.body !== null &&
      'model' in entry.body &&
      entry.body.model === model,
  ).length

/** One of the rig's two gateways, or a gateway of a test's own. */
type Which = 0 | 1 | WorkerdGateway

const send = (
  r: Rig,
  key: string,
  which: Which,
  extra: Record<string, unknown> = {},
): Promise<Response> =>
  fetch(`${(typeof which === 'number' ? r.gateways[which] : which).url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'Hello' }],
      ...extra,
    }),
  })

/** One request; its status, who served it and how many attempts it took. */
const served = async (r: Rig, key: string, which: Which) => {
  const res = await send(r, key, which)
  await res.arrayBuffer()
  return {
    status: res.status,
    model: res.headers.get('floopy-model'),
    attempts: res.headers.get('floopy-attempts'),
  }
}

describe('circuit breakers shared across isolates', { timeout: TEST_TIMEOUT_MS }, () => {
  it("should skip a target in one isolate once the other isolate's failures opened its circuit", async () => {
    const r = rig()
    const primary = fresh('primary')
    const fallback = fresh('gpt-4o-mini')
    const { key } = await tenantWith(r, 'fallback', openai(primary, fallback))
    // Both isolates route once while the primary is healthy, so both follow its health.
    for (const which of [0, 1] as const) {
      expect(await served(r, key, which)).toEqual({ status: 200, model: primary, attempts: '1' })
    }
    await fault(r, primary, { 'x-fake-status': '503' })
    // Isolate A meets the outage: two tries on the primary per request, then the fallback, until
    // the window holds ten outcomes, half of them failures (the breaker opens between two tries
    // of one request as readily as between requests).
    const outage = hits(r, primary)
    let opened = false
    for (let i = 0; i < 8 && !opened; i++) {
      const answer = await served(r, key, 0)
      expect(answer).toMatchObject({ status: 200, model: fallback })
      expect(['1', '2', '3']).toContain(answer.attempts)
      opened = answer.attempts === '1'
    }
    expect(opened).toBe(true)
    // Two successes are in the window, so eight or nine failures (as one isolate counts them
    // alone) open it.
    expect(hits(r, primary) - outage).toBeGreaterThanOrEqual(8)
    expect(hits(r, primary) - outage).toBeLessThanOrEqual(9)
    expect(await sharedStatus(r, `openai/${primary}`, 'open')).toBe('open')
    const before = hits(r, primary)

    // Isolate B never saw a failure. Past its sync interval, its next request's admission round
    // trip brings the shared state along, and the dead primary is not tried.
    await sleep(SYNC_INTERVAL_MS + 100)
    const history = r.upstash.history.length
    const started = Date.now()
    expect(await served(r, key, 1)).toEqual({ status: 200, model: fallback, attempts: '1' })
    const took = Date.now() - started
    const during = r.upstash.history.slice(history)
    // One Redis request before the answer: the admission and the routing sync, pipelined.
    expect(during[0]).toHaveLength(2)
    // And none after it, unless the request outlasted the sync interval (a loaded machine): then
    // what it learned, its latency sample, is due at once and leaves after the answer, alone.
    expect(during.length).toBeLessThanOrEqual(took < SYNC_INTERVAL_MS ? 1 : 2)
    expect(during.slice(1).every((request) => request.length === 1)).toBe(true)
    for (let i = 0; i < 4; i++) {
      expect(await served(r, key, 1)).toEqual({ status: 200, model: fallback, attempts: '1' })
    }
    expect(hits(r, primary)).toBe(before)
    await heal(r, primary)
  })

  it('should send one probe across both isolates after the cool-down, and close for both on its success', async () => {
    const r = rig()
    const primary = fresh('probed')
    const { key } = await tenantWith(r, 'fallback', openai(primary, fresh('gpt-4o-mini')))
    for (const which of [0, 1] as const) await served(r, key, which)
    await fault(r, primary, { 'x-fake-status': '500' })
    for (let i = 0; i < 5; i++) await served(r, key, 0)
    expect(await sharedStatus(r, `openai/${primary}`, 'open')).toBe('open')

    // The primary recovers, slowly enough that every other request arrives while the probe is out
    // (half the attempt timeout: seconds to spare on a loaded machine, on either side).
    await fault(r, primary, { 'x-fake-latency-ms': String(ATTEMPT_TIMEOUT_MS / 2) })
    await sleep(COOL_DOWN_MS + 200)
    const before = hits(r, primary)
    const burst = await Promise.all(
      Array.from({ length: 8 }, (_, i) => served(r, key, i % 2 === 0 ? 0 : 1)),
    )
    expect(burst.every((result) => result.status === 200)).toBe(true)
    expect(hits(r, primary) - before).toBe(1)
    expect(burst.filter((result) => result.model === primary)).toHaveLength(1)

    // The probe succeeded: the circuit is closed for both isolates.
    await heal(r, primary)
    await sleep(SYNC_INTERVAL_MS + 100)
    for (const which of [0, 1, 0, 1] as const) {
      expect(await served(r, key, which)).toEqual({ status: 200, model: primary, attempts: '1' })
    }
    expect(await sharedStatus(r, `openai/${primary}`, null)).toBeNull()
  })
})

describe('latency-based routing across isolates', () => {
  /**
   * How much slower the slow target answers: enough that what a busy machine adds at random to
   * either target's answers cannot make the slow one measure faster.
   */
  const SLOWER_MS = 300

  it('should converge on the faster target and notice when the slower one recovers', async () => {
    const r = rig()
    const quick = fresh('quick')
    const sluggish = fresh('sluggish')
    const { key } = await tenantWith(r, 'latency', openai(quick, sluggish))
    await fault(r, sluggish, { 'x-fake-latency-ms': String(SLOWER_MS) })
    const run = async (n: number): Promise<(string | null)[]> => {
      const models: (string | null)[] = []
      for (let i = 0; i < n; i++) models.push((await served(r, key, i % 2 === 0 ? 0 : 1)).model)
      return models
    }
    const first = await run(40)
    // 5 % exploration: the slow target still gets the odd request; 30 of the last 30 would be
    // 97.5 % expected, 24 leaves room for exploration and the isolates' first samples.
    expect(first.slice(10).filter((model) => model === quick).length).toBeGreaterThanOrEqual(24)
    // Both isolates' samples are in one shared average.
    await sleep(SYNC_INTERVAL_MS + 100)
    await run(2)
    expect(Number(await r.kv.hget(targetHealthKey(`openai/${quick}`), 'n'))).toBeGreaterThan(20)

    // The roles swap: the formerly slow target is now the fast one.
    await heal(r, sluggish)
    await fault(r, quick, { 'x-fake-latency-ms': String(SLOWER_MS) })
    const second = await run(150)
    expect(second.slice(-30).filter((model) => model === sluggish).length).toBeGreaterThanOrEqual(
      24,
    )
    await heal(r, quick)
    // About 190 requests in a row, a few dozen of them slowed on purpose: ten seconds or so on an
    // idle machine, most of a minute seen on a loaded one. Only a hang guard.
  }, 180_000)
})

describe('timeouts, streams and provider keys', { timeout: TEST_TIMEOUT_MS }, () => {
  it('should give up on a try after the attempt timeout and serve from the next target', async () => {
    const r = rig()
    const stuck = fresh('stuck')
    const fallback = fresh('gpt-4o-mini')
    const { key } = await tenantWith(r, 'fallback', openai(stuck, fallback))
    await fault(r, stuck, { 'x-fake-latency-ms': String(STUCK_MS) })
    // Without the attempt timeout the stuck target would answer, after 30 s, on the first try;
    // with it, the fallback has a whole try's time (there is no routing deadline to share).
    expect(await served(r, key, 0)).toEqual({ status: 200, model: fallback, attempts: '3' })
    expect(hits(r, stuck)).toBe(2)
    await heal(r, stuck)
  })

  describe('with a routing deadline', () => {
    /** Two whole tries of the first target, and half of one of the second. */
    const TIGHT = { attempt: 2_000, deadline: 5_000 }
    /**
     * A gateway of its own, on the rig's stores: limits this tight on the shared gateways would
     * make every healthy answer of the other tests race them on a loaded machine.
     */
    let tight: WorkerdGateway | undefined
    beforeAll(async () => {
      tight = await startGateway({
        bindings: {
          ...rig().bindings,
          FLOOPY_ATTEMPT_TIMEOUT_MS: String(TIGHT.attempt),
          FLOOPY_ROUTING_DEADLINE_MS: String(TIGHT.deadline),
        },
      })
      // Starting workerd takes seconds on an idle machine, and several times that on a busy one.
    }, 120_000)
    afterAll(async () => {
      await tight?.close()
    })

    it('should stop at the routing deadline with a 502 that says so', async () => {
      const r = rig()
      if (tight === undefined) throw new Error('the deadline gateway is not started')
      const models = [fresh('late'), fresh('late'), fresh('late')]
      const { key } = await tenantWith(r, 'fallback', openai(...models))
      // Nothing answers: no try can end but by its time limit, whatever the machine's speed.
      for (const model of models) await fault(r, model, { 'x-fake-latency-ms': String(STUCK_MS) })
      const res = await send(r, key, tight)
      expect(res.status).toBe(502)
      const body = (await res.json()) as { error: { code: string; message: string } }
      expect(body.error.code).toBe('NO_PROVIDER_AVAILABLE')
      expect(body.error.message).toContain('deadline reached')
      expect(body.error.message).toContain('PROVIDER_TIMEOUT')
      // 5 s allow two 2 s tries of the first target and part of one of the second, no more.
      const attempts = Number(res.headers.get('floopy-attempts'))
      expect(attempts).toBeGreaterThanOrEqual(2)
      expect(attempts).toBeLessThan(6)
      // Every try counted reached the fake. The last, cut by the deadline, was sent about a second
      // before the 502; but the fake runs in this process, which a loaded machine can keep from
      // reading it until after the 502 is in: poll, as for shared state.
      const received = (): number => models.reduce((sum, model) => sum + hits(r, model), 0)
      const until = Date.now() + SETTLE_MS
      while (received() < attempts && Date.now() < until) await sleep(25)
      expect(received()).toBe(attempts)
      for (const model of models) await heal(r, model)
    })
  })

  it('should end a stream cut after its first byte with an error event, not switch targets', async () => {
    const r = rig()
    const cut = fresh('cut')
    const backup = fresh('backup')
    const { key } = await tenantWith(r, 'fallback', openai(cut, backup))
    await fault(r, cut, { 'x-fake-cut-after': '2' })
    const res = await send(r, key, 0, { stream: true })
    expect(res.status).toBe(200)
    expect(res.headers.get('floopy-model')).toBe(cut)
    expect(res.headers.get('floopy-attempts')).toBe('1')
    const text = await res.text()
    expect(text).toContain('event: error')
    expect(text).not.toContain('data: [DONE]')
    expect(hits(r, backup)).toBe(0)
    await heal(r, cut)
  })

  it("should send each target with the key it names, and keep an organisation's key in its own circuit", async () => {
    const r = rig()
    const model = fresh('keyed')
    const { org, key } = await tenantWith(r, 'round-robin', [
      { provider: 'openai', model, key: 'organization' },
      { provider: 'openai', model, key: 'operator' },
    ])
    const own = `sk-org-own-${crypto.randomUUID()}`
    await rpc(r, 'admin_put_provider_key', {
      p_org: org.id,
      p_provider: 'openai',
      p_envelope: sealProviderKey(
        parseKeyring(r.keyring),
        { orgId: org.id, provider: 'openai' },
        own,
      ),
    })
    await r.kv.incr(CONFIG_EPOCH_KEY)
    const seen = r.fake.requests.length
    for (let i = 0; i < 4; i++) expect((await served(r, key, 0)).status).toBe(200)
    const authorizations = r.fake.requests.slice(seen).map((entry) => entry.headers.authorization)
    expect(authorizations.filter((value) => value === `Bearer ${own}`)).toHaveLength(2)
    expect(
      authorizations.filter((value) => value === 'Bearer sk-test-openai-upstream-secret'),
    ).toHaveLength(2)
    // Two circuits: the organisation's key's, and the operator's.
    await sleep(SYNC_INTERVAL_MS + 100)
    await served(r, key, 0)
    expect(await r.kv.exists(targetHealthKey(`openai/${model}#org:${org.id}`))).toBe(1)
    expect(await r.kv.exists(targetHealthKey(`openai/${model}`))).toBe(1)
  })
})

describe('failover across providers, as the OpenAI SDK sees it', () => {
  /** A rule whose OpenAI primary answers 503 to everything, backed by an Anthropic model. */
  const failingOver = async (r: Rig) => {
    const primary = fresh('gpt-4o-down')
    const backup = fresh('claude-sonnet-4-5')
    const { key } = await tenantWith(r, 'fallback', [
      { provider: 'openai', model: primary },
      { provider: 'anthropic', model: backup },
    ])
    await fault(r, primary, { 'x-fake-status': '503' })
    const client = new OpenAI({ baseURL: `${r.gateways[0].url}/v1`, apiKey: key, maxRetries: 0 })
    return { primary, backup, client, key }
  }

  it('should answer an OpenAI model from an Anthropic one with a valid OpenAI completion', async () => {
    const r = rig()
    const { primary, backup, client } = await failingOver(r)
    const { data, response } = await client.chat.completions
      .create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Hello' }] })
      .withResponse()
    valid('CreateChatCompletionResponse', data)
    expect(data.choices[0]?.message.content?.length).toBeGreaterThan(0)
    expect(data.usage?.total_tokens).toBeGreaterThan(0)
    expect(response.headers.get('floopy-provider')).toBe('anthropic')
    expect(response.headers.get('floopy-model')).toBe(backup)
    expect(response.headers.get('floopy-attempts')).toBe('3')
    expect(hits(r, primary)).toBe(2)
    await heal(r, primary)
  }, 30_000)

  it('should stream from the Anthropic target with no trace of the failed OpenAI tries', async () => {
    const r = rig()
    const { primary, client, key } = await failingOver(r)
    const stream = await client.chat.completions.create({
      model: 'gpt-4o',
      messages: [{ role: 'user', content: 'Hello' }],
      stream: true,
      stream_options: { include_usage: true },
    })
    let text = ''
    let usage = 0
    for await (const chunk of stream) {
      valid('CreateChatCompletionStreamResponse', chunk)
      text += chunk.choices[0]?.delta.content ?? ''
      usage += chunk.usage?.total_tokens ?? 0
    }
    expect(text.length).toBeGreaterThan(0)
    expect(usage).toBeGreaterThan(0)
    // The raw bytes: one clean OpenAI stream, nothing of the 503s.
    const res = await send(r, key, 0, { stream: true })
    expect(res.headers.get('floopy-provider')).toBe('anthropic')
    const raw = await res.text()
    expect(raw).not.toMatch(/event: error|"error"|PROVIDER_ERROR/)
    expect(raw.trimEnd().endsWith('data: [DONE]')).toBe(true)
    expect(hits(r, primary)).toBeGreaterThanOrEqual(2)
    await heal(r, primary)
  }, 30_000)
})
