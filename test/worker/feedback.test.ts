/**
 * The feedback loop inside workerd with the embedded stores: a served request's id is a signed
 * reference; `POST /v1/feedback` takes it from the organisation that owns it within 30 days and
 * refuses everything else alike (404), checks the value against the metric's range, replaces a
 * repeat; and a `feedback` routing rule moves its traffic to the target that earns the better
 * feedback, keeps a session on one target, and a negative feedback on a cache hit evicts the entry.
 */
import { describe, expect, it } from 'vitest'
import type { TenantsFile } from '../../src/stores/embedded/tenants-file'
import { mergeTenants, NOW, tenantsFile, type TestTenant } from '../support/tenants-file'
import { gatewayWithBindings, received, uniqueTag } from './helpers'

type Json = Record<string, unknown>

const ruleRow = (orgId: string, targets: Json[], params: Json = {}) => ({
  id: `rule_${orgId}`,
  org_id: orgId,
  api_key_id: null,
  model: null,
  strategy: 'feedback',
  targets,
  params,
  created_at: NOW,
  updated_at: NOW,
})

const TWO_TARGETS = [
  { provider: 'openai', model: 'gpt-4o-mini' },
  { provider: 'groq', model: 'llama-3.3-70b-versatile' },
]

const gatewayFor = (tenants: TestTenant[], bindings: Record<string, string> = {}) => {
  const file = tenants
    .slice(1)
    .reduce((all, t) => mergeTenants(all, t.file), (tenants[0] as TestTenant).file)
  const gateway = gatewayWithBindings({
    FLOOPY_TENANTS: JSON.stringify(file),
    FLOOPY_DEV_API_KEY: undefined,
    ...bindings,
  })
  const chat = (t: TestTenant, headers: Record<string, string> = {}, body: Json = {}) =>
    gateway(
      new Request('http://gateway/v1/chat/completions', {
        method: 'POST',
        headers: {
          authorization: `Bearer ${t.key}`,
          'content-type': 'application/json',
          ...headers,
        },
        body: JSON.stringify({
          model: 'openai/gpt-4o-mini',
          messages: [{ role: 'user', content: 'Hi' }],
          ...body,
        }),
      }),
    )
  const feedback = async (t: TestTenant, body: unknown) => {
    const res = await gateway(
      new Request('http://gateway/v1/feedback', {
        method: 'POST',
        headers: { authorization: `Bearer ${t.key}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      }),
    )
    return { status: res.status, body: await res.json<Json>() }
  }
  return { chat, feedback }
}

const withRule = async (
  orgId: string,
  targets: Json[] = TWO_TARGETS,
  extra: Partial<TenantsFile> = {},
  org: Json = {},
) =>
  tenantsFile(
    orgId,
    { routing_rules: [ruleRow(orgId, targets)] as TenantsFile['routing_rules'], ...extra },
    org,
  )

const errorOf = (body: Json) =>
  body.error as { code: string; param: string | null; message: string }

describe('the request id', () => {
  it('should be a signed reference for a served request, kept beside a client’s own id', async () => {
    const acme = await tenantsFile('org_fb_ids')
    const { chat } = gatewayFor([acme])
    const res = await chat(acme)
    expect(res.status).toBe(200)
    expect(res.headers.get('x-request-id')).toMatch(
      /^fr1\.[0-9a-z]+\.[\w-]{22}\.-\.[\w-]+\.-\.[\w-]{22}$/,
    )
    const own = await chat(acme, { 'x-request-id': 'my-own-id-1' })
    expect(own.headers.get('x-request-id')).toBe('my-own-id-1')
    expect(own.headers.get('floopy-request-id')).toMatch(/^fr1\./)
  })

  it('should stay plain on an error answer', async () => {
    const acme = await tenantsFile('org_fb_error')
    const { chat } = gatewayFor([acme])
    const res = await chat(acme, {}, { messages: 'not a list' })
    expect(res.status).toBe(400)
    expect(res.headers.get('x-request-id')).not.toMatch(/^fr1\./)
  })
})

describe('POST /v1/feedback', () => {
  it('should take a rating for a served request and answer 202 with its id', async () => {
    const acme = await tenantsFile('org_fb_ok')
    const { chat, feedback } = gatewayFor([acme])
    const id = (await chat(acme)).headers.get('x-request-id')
    const taken = await feedback(acme, { request_id: id, value: 0.8, comment: 'good' })
    expect(taken.status).toBe(202)
    expect(taken.body).toMatchObject({
      object: 'feedback',
      request_id: id,
      metric: 'rating',
      value: 0.8,
    })
    expect(String(taken.body.id)).toMatch(/^fb_[0-9a-f]{32}$/)
    expect((await feedback(acme, { request_id: id, value: true })).status).toBe(202)
    expect((await feedback(acme, { request_id: id, value: false })).body.value).toBe(0)
  })

  it('should refuse a foreign, forged, altered or unknown request id alike with 404', async () => {
    const acme = await tenantsFile('org_fb_a')
    const beta = await tenantsFile('org_fb_b')
    const { chat, feedback } = gatewayFor([acme, beta])
    const id = (await chat(acme)).headers.get('x-request-id') ?? ''
    const parts = id.split('.')
    const altered = [
      ...parts.slice(0, 4),
      btoa('groq/x').replace(/=+$/, ''),
      ...parts.slice(5),
    ].join('.')
    const answers = await Promise.all(
      [
        { as: beta, request_id: id },
        { as: acme, request_id: crypto.randomUUID() },
        { as: acme, request_id: altered },
        { as: acme, request_id: `${id.slice(0, -2)}AA` },
      ].map(({ as, request_id }) => feedback(as, { request_id, value: 1 })),
    )
    for (const answer of answers) {
      expect(answer.status).toBe(404)
      expect(errorOf(answer.body).code).toBe('REQUEST_NOT_FOUND')
    }
    // Indistinguishable: the same message for each.
    expect(new Set(answers.map((a) => errorOf(a.body).message)).size).toBe(1)
  })

  it.each([
    [{ value: 1 }, 'request_id'],
    [{ request_id: 'x' }, 'value'],
    [{ request_id: 'x', value: 'good' }, 'value'],
    [{ request_id: 'x', value: 1.5 }, 'value'],
    [{ request_id: 'x', value: -0.1 }, 'value'],
    [{ request_id: 'x', value: 1, metric: 'Stars!' }, 'metric'],
    [{ request_id: 'x', value: 1, metric: 'stars' }, 'metric'],
    [{ request_id: 'x', value: 1, comment: 5 }, 'comment'],
  ])('should refuse %j with 400 naming %s', async (body, field) => {
    const acme = await tenantsFile('org_fb_bad')
    const { chat, feedback } = gatewayFor([acme])
    const id = (await chat(acme)).headers.get('x-request-id')
    const request = { ...body, ...('request_id' in body ? { request_id: id } : {}) }
    const answer = await feedback(acme, request)
    expect(answer.status).toBe(400)
    expect(errorOf(answer.body)).toMatchObject({ code: 'INVALID_REQUEST', param: field })
  })

  it('should take a declared metric within its range', async () => {
    const acme = await tenantsFile(
      'org_fb_metric',
      {},
      {
        settings: { feedback: { metrics: { stars: { min: 1, max: 5 } } } },
      },
    )
    const { chat, feedback } = gatewayFor([acme])
    const id = (await chat(acme)).headers.get('x-request-id')
    expect((await feedback(acme, { request_id: id, metric: 'stars', value: 4 })).status).toBe(202)
    expect((await feedback(acme, { request_id: id, metric: 'stars', value: 6 })).status).toBe(400)
  })

  it('should scrub a comment and never echo it', async () => {
    const acme = await tenantsFile('org_fb_comment')
    const { chat, feedback } = gatewayFor([acme])
    const id = (await chat(acme)).headers.get('x-request-id')
    const answer = await feedback(acme, {
      request_id: id,
      value: 1,
      comment: 'Reach me at jane.doe@example.com',
    })
    expect(answer.status).toBe(202)
    expect(JSON.stringify(answer.body)).not.toContain('jane.doe')
  })
})

describe('the feedback strategy', () => {
  const pick = async (chat: (t: TestTenant) => Promise<Response>, t: TestTenant) => {
    const res = await chat(t)
    expect(res.status).toBe(200)
    return { provider: res.headers.get('floopy-provider'), id: res.headers.get('x-request-id') }
  }

  it('should move traffic to the target whose answers are rated better', async () => {
    const acme = await withRule('org_fb_learn')
    const { chat, feedback } = gatewayFor([acme], {
      FLOOPY_FEEDBACK_MIN_SAMPLES: '5',
      FLOOPY_FEEDBACK_EXPLORATION: '0',
    })
    // Groq's answers are good, OpenAI's bad: 80 rated requests.
    for (let i = 0; i < 80; i++) {
      const { provider, id } = await pick(chat, acme)
      const good = provider === 'groq'
      expect((await feedback(acme, { request_id: id, value: good })).status).toBe(202)
      // The memo refreshes once a second at most: let it see the feedback now and then.
      if (i % 20 === 19) await new Promise((resolve) => setTimeout(resolve, 1100))
    }
    await new Promise((resolve) => setTimeout(resolve, 1100))
    const last = []
    for (let i = 0; i < 40; i++) last.push((await pick(chat, acme)).provider)
    const share = last.filter((p) => p === 'groq').length / last.length
    // Posteriors after ~40 good and ~40 bad ratings are far apart: a draw favouring OpenAI
    // has a probability far below 1 in 1000.
    expect(share).toBeGreaterThanOrEqual(0.9)
  })

  it('should keep a session on the target that answered it', async () => {
    const acme = await withRule('org_fb_session')
    const { chat } = gatewayFor([acme])
    const session = { 'floopy-session-id': uniqueTag() }
    const first = (await chat(acme, session)).headers.get('floopy-provider')
    for (let i = 0; i < 10; i++) {
      expect((await chat(acme, session)).headers.get('floopy-provider')).toBe(first)
    }
  })
})

describe('feedback on a cached answer', () => {
  it('should evict the entry on a negative rating, and judge no provider', async () => {
    const acme = await tenantsFile('org_fb_cache', {}, { settings: { cache: { enabled: true } } })
    const { chat, feedback } = gatewayFor([acme])
    const tag = uniqueTag()
    const body = { messages: [{ role: 'user', content: `Cache me ${tag}` }] }
    await chat(acme, { 'x-fake-tag': tag }, body)
    const hit = await chat(acme, { 'x-fake-tag': tag }, body)
    expect(hit.headers.get('floopy-cache')).toBe('HIT')
    const id = hit.headers.get('x-request-id')
    expect((await feedback(acme, { request_id: id, value: 0 })).status).toBe(202)
    const after = await chat(acme, { 'x-fake-tag': tag }, body)
    expect(after.headers.get('floopy-cache')).toBe('MISS')
    expect(await received(tag)).toHaveLength(2)
  })
})
