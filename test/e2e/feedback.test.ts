/**
 * The feedback loop end to end: two production gateways (two isolates) on real Postgres and Redis
 * (through the Upstash bridge), a `feedback` routing rule set with the admin RPC, driven over
 * HTTP. A request served by one gateway takes feedback at the other (the reference key is the
 * deployment's, not the isolate's); feedback from another organisation, forged or repeated is
 * handled as documented; and the rule's traffic moves to the target whose answers are rated
 * better, as both isolates read the shared posteriors.
 */
import { describe, expect, it } from 'vitest'
import { feedbackStatsKey } from '../../src/stores/shared-keys.ts'
import { ruleTag } from '../../src/feedback/reference.ts'
import { createOrg, issueKey, rpc, useTenancyRig, type Rig } from '../support/tenancy.ts'

const rig = useTenancyRig({ FLOOPY_FEEDBACK_MIN_SAMPLES: '5', FLOOPY_FEEDBACK_EXPLORATION: '0' })

type Tenant = { key: string; orgId: string }

const tenantWithRule = async (r: Rig): Promise<Tenant> => {
  const org = await createOrg(r)
  const { key } = await issueKey(r, org)
  await rpc(r, 'admin_set_routing_rule', {
    p_org: org.id,
    p_strategy: 'feedback',
    p_targets: [
      { provider: 'openai', model: 'gpt-4o-mini' },
      { provider: 'groq', model: 'llama-3.3-70b-versatile' },
    ],
    p_params: { cost_weight: 0, latency_weight: 0 },
  })
  return { key, orgId: org.id }
}

const chat = async (r: Rig, t: Tenant, which: 0 | 1) => {
  const res = await fetch(`${r.gateways[which].url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${t.key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'any', messages: [{ role: 'user', content: 'Hi' }] }),
  })
  expect(res.status).toBe(200)
  await res.text()
  return { provider: res.headers.get('floopy-provider'), id: res.headers.get('x-request-id') ?? '' }
}

const feedback = async (r: Rig, t: Tenant, which: 0 | 1, body: unknown) => {
  const res = await fetch(`${r.gateways[which].url}/v1/feedback`, {
    method: 'POST',
    headers: { authorization: `Bearer ${t.key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
  return { status: res.status, body: (await res.json()) as { error?: { code: string } } }
}

describe('feedback across isolates', () => {
  it('should take feedback at the other gateway, and refuse another organisation’s', async () => {
    const r = rig()
    const acme = await tenantWithRule(r)
    const beta = await tenantWithRule(r)
    const { id } = await chat(r, acme, 0)
    expect((await feedback(r, acme, 1, { request_id: id, value: 1 })).status).toBe(202)
    const foreign = await feedback(r, beta, 1, { request_id: id, value: 1 })
    expect(foreign.status).toBe(404)
    expect(foreign.body.error?.code).toBe('REQUEST_NOT_FOUND')
  })

  it('should count a repeated feedback once in the shared posterior', async () => {
    const r = rig()
    const acme = await tenantWithRule(r)
    const { id, provider } = await chat(r, acme, 0)
    await feedback(r, acme, 0, { request_id: id, value: 0 })
    await feedback(r, acme, 1, { request_id: id, value: 1 })
    const key = feedbackStatsKey(acme.orgId, ruleTag({ apiKeyId: null, model: null }), 'rating')
    const target = provider === 'groq' ? 'groq/llama-3.3-70b-versatile' : 'openai/gpt-4o-mini'
    const hash = await r.kv.hgetall<Record<string, string>>(key)
    expect(Number(hash?.[`${target}|n`])).toBe(1)
    expect(Number(hash?.[`${target}|a`])).toBe(1)
    expect(Number(hash?.[`${target}|b`])).toBe(0)
  })

  it('should move the rule’s traffic in both isolates to the better-rated target', async () => {
    const r = rig()
    const acme = await tenantWithRule(r)
    for (let i = 0; i < 60; i++) {
      const which = (i % 2) as 0 | 1
      const { provider, id } = await chat(r, acme, which)
      const answer = await feedback(r, acme, (1 - which) as 0 | 1, {
        request_id: id,
        value: provider === 'groq',
      })
      expect(answer.status).toBe(202)
      // Each isolate re-reads the posteriors at most once a second.
      if (i % 15 === 14) await new Promise((resolve) => setTimeout(resolve, 1_100))
    }
    await new Promise((resolve) => setTimeout(resolve, 1_100))
    const served: (string | null)[] = []
    for (let i = 0; i < 40; i++) served.push((await chat(r, acme, (i % 2) as 0 | 1)).provider)
    expect(served.filter((p) => p === 'groq').length).toBeGreaterThanOrEqual(36)
  })
})
