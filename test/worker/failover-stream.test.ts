/**
 * What a routed request commits to, inside workerd: a target that answers 200 and then closes
 * before its first chunk of content is failed over like one that refused (the stream is committed
 * to only with its first chunk), while a single target keeps today's contract (200, then the
 * stream's error event); and each try carries only its own provider's credentials.
 */
import { describe, expect, it } from 'vitest'
import type { RoutingRuleRow } from '../../src/stores/embedded/tenants-file'
import { NOW, tenantsFile } from '../support/tenants-file'
import { fakeUrl, parseSse, post, received, uniqueTag, withBindings } from './helpers'

/** Ties `headers` (fake-provider faults) to every request for `model` until the test ends. */
const withFault = async <T>(
  model: string,
  headers: Record<string, string>,
  run: () => Promise<T>,
): Promise<T> => {
  const put = await fetch(`${fakeUrl()}/__fake/faults`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, headers }),
  })
  expect(put.status).toBe(200)
  try {
    return await run()
  } finally {
    await fetch(`${fakeUrl()}/__fake/faults?model=${encodeURIComponent(model)}`, {
      method: 'DELETE',
    })
  }
}

/** A gateway whose only tenant routes every chat through `targets` (fallback, one try each). */
const routed = async (targets: RoutingRuleRow['targets']) => {
  const rule: RoutingRuleRow = {
    id: `rule_${uniqueTag()}`,
    org_id: 'org_failover',
    api_key_id: null,
    model: null,
    strategy: 'fallback',
    targets,
    created_at: NOW,
    updated_at: NOW,
  }
  const tenant = await tenantsFile('org_failover', { routing_rules: [rule] })
  return (body: Record<string, unknown>, headers: Record<string, string> = {}) =>
    withBindings(
      {
        FLOOPY_TENANTS: JSON.stringify(tenant.file),
        FLOOPY_DEV_API_KEY: undefined,
        FLOOPY_TRIES_PER_TARGET: '1',
      },
      new Request('http://gateway/v1/chat/completions', {
        method: 'POST',
        headers: {
          authorization: `Bearer ${tenant.key}`,
          'content-type': 'application/json',
          ...headers,
        },
        body: JSON.stringify({ messages: [{ role: 'user', content: 'Hello' }], ...body }),
      }),
    )
}

describe('a routed stream', () => {
  it('should fail over a 200 that closes before any content, with no trace of it', async () => {
    const empty = `empty-${uniqueTag()}`
    const chat = await routed([
      { provider: 'local', model: empty },
      { provider: 'local', model: 'llama3.2' },
    ])
    const tag = uniqueTag()
    const res = await withFault(empty, { 'x-fake-cut-after': '0' }, () =>
      chat({ model: 'any', stream: true }, { 'x-fake-tag': tag }),
    )
    expect(res.status).toBe(200)
    expect(res.headers.get('floopy-attempts')).toBe('2')
    expect(res.headers.get('floopy-model')).toBe('llama3.2')
    const events = parseSse(await res.text())
    expect(events.some((e) => e.event === 'error')).toBe(false)
    expect(events.at(-1)?.data).toBe('[DONE]')
    expect((await received(tag)).map((r) => (r.body as { model: string }).model)).toEqual([
      empty,
      'llama3.2',
    ])
  })

  it('should not fail over once content has been sent: the break is the client’s', async () => {
    const cut = `cut-${uniqueTag()}`
    const chat = await routed([
      { provider: 'local', model: cut },
      { provider: 'local', model: 'llama3.2' },
    ])
    const tag = uniqueTag()
    const res = await withFault(cut, { 'x-fake-cut-after': '2' }, () =>
      chat({ model: 'any', stream: true }, { 'x-fake-tag': tag }),
    )
    expect(res.status).toBe(200)
    expect(res.headers.get('floopy-attempts')).toBe('1')
    const events = parseSse(await res.text())
    expect(events.at(-1)?.event).toBe('error')
    expect(JSON.parse(events.at(-1)?.data ?? '{}')).toMatchObject({
      error: { code: 'STREAM_INTERRUPTED' },
    })
    expect(await received(tag)).toHaveLength(1)
  })

  it('should send each try only its own provider’s credentials', async () => {
    const refusing = `claude-${uniqueTag()}`
    const chat = await routed([
      { provider: 'anthropic', model: refusing },
      { provider: 'openai', model: 'gpt-4o-mini' },
    ])
    const tag = uniqueTag()
    const res = await withFault(refusing, { 'x-fake-status': '503' }, () =>
      chat({ model: 'any' }, { 'x-fake-tag': tag }),
    )
    expect(res.status).toBe(200)
    const [anthropic, openai] = await received(tag)
    expect(anthropic?.headers['x-api-key']).toBe('sk-ant-test-anthropic-upstream-secret')
    expect(openai?.headers['authorization']).toMatch(/^Bearer /)
    expect(openai?.headers).not.toHaveProperty('x-api-key')
    expect(openai?.headers).not.toHaveProperty('anthropic-version')
  })
})

describe('a single target', () => {
  it('should keep answering 200 and end with the error event when the stream closes at once', async () => {
    const res = await post(
      '/v1/chat/completions',
      { model: 'local/llama3.2', stream: true, messages: [{ role: 'user', content: 'Hello' }] },
      { 'x-fake-cut-after': '0' },
    )
    expect(res.status).toBe(200)
    expect(res.headers.get('floopy-attempts')).toBe('1')
    const events = parseSse(await res.text())
    expect(events).toHaveLength(1)
    expect(events[0]?.event).toBe('error')
    expect(JSON.parse(events[0]?.data ?? '{}')).toMatchObject({
      error: { code: 'STREAM_INTERRUPTED' },
    })
  })
})
