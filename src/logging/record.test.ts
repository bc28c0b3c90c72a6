/**
 * The log record: every column filled from what the pipeline saw, bodies scrubbed of PII and
 * keys (a streamed answer assembled first), embedding vectors reduced to their length, bodies cut
 * to fit a Queue message, metadata-only organisations without bodies, the client IP only as a
 * keyed hash, cost from the price table (unknown stays unknown).
 */
import { describe, expect, it } from 'vitest'
import { requestFacts } from '../../test/support/log-facts'
import { BODY_LIMIT, buildRecord, ipHashKey } from './record'

const facts = requestFacts

describe('buildRecord', () => {
  it('should fill every column from the facts', async () => {
    const record = await buildRecord(facts(), undefined)
    expect(record).toMatchObject({
      request_id: 'req-1',
      timestamp: '2026-11-22 10:00:00.123',
      org_id: 'org_1',
      key_id: 'key_1',
      endpoint: 'chat',
      provider: 'openai',
      model_requested: 'openai/gpt-4o-mini',
      model_served: 'gpt-4o-mini',
      status: 200,
      error_code: '',
      stream: false,
      latency_ms: 1500,
      ttfb_ms: 407,
      upstream_latency_ms: 400,
      attempts: 1,
      prompt_tokens: 1000,
      completion_tokens: 500,
      cost_usd: '0.000450000',
      cache_status: 'NONE',
      firewall_verdict: 'NONE',
      prompt_id: '',
      prompt_version: 0,
      user_agent: 'OpenAI/JS 7.0',
      client_ip_hash: '',
      metadata: { end: 'done' },
    })
  })

  it('should scrub PII and keys from both bodies and keep them JSON', async () => {
    const record = await buildRecord(facts(), undefined)
    for (const secret of ['jane.doe@example.com', 'sk-proj-abcdefghijklmnopqrstuvwx', '555-2671']) {
      expect(record.request_body + record.response_body).not.toContain(secret)
    }
    expect(record.request_body).toContain('[REDACTED:email]')
    expect(record.request_body).toContain('[REDACTED:api_key]')
    expect(record.response_body).toContain('[REDACTED:phone]')
    expect(() => JSON.parse(record.request_body) as unknown).not.toThrow()
  })

  it('should assemble a streamed answer before scrubbing it', async () => {
    const sse = [
      { choices: [{ index: 0, delta: { role: 'assistant', content: 'write to bob' } }] },
      { choices: [{ index: 0, delta: { content: '@example.org now' }, finish_reason: 'stop' }] },
    ]
      .map((chunk) => `data: ${JSON.stringify(chunk)}\n\n`)
      .join('')
    const record = await buildRecord(
      facts({ stream: true, response: { text: `${sse}data: [DONE]\n\n`, truncated: false } }),
      undefined,
    )
    // The address was split across two events: only assembling first catches it.
    expect(record.response_body).not.toContain('bob')
    const body = JSON.parse(record.response_body) as { choices: { message: { content: string } }[] }
    expect(body.choices[0]?.message.content).toBe('write to [REDACTED:email] now')
  })

  it('should reduce embedding vectors to their length', async () => {
    const record = await buildRecord(
      facts({
        endpoint: 'embeddings',
        response: {
          text: JSON.stringify({ data: [{ index: 0, embedding: [0.1, 0.2, 0.3] }] }),
          truncated: false,
        },
      }),
      undefined,
    )
    expect(JSON.parse(record.response_body)).toEqual({
      data: [{ index: 0, embedding: '[3 dimensions]' }],
    })
  })

  it('should log no bodies for a metadata-only organisation', async () => {
    const record = await buildRecord(facts({ bodies: false }), undefined)
    expect(record.request_body).toBe('')
    expect(record.response_body).toBe('')
    expect(record.prompt_tokens).toBe(1000)
  })

  it('should cut bodies to the limit and say so', async () => {
    const long = JSON.stringify({
      messages: [{ role: 'user', content: 'x'.repeat(BODY_LIMIT * 2) }],
    })
    const record = await buildRecord(
      facts({ requestBody: long, response: { text: 'partial', truncated: true } }),
      undefined,
    )
    expect(new TextEncoder().encode(record.request_body).byteLength).toBeLessThanOrEqual(BODY_LIMIT)
    expect(record.metadata).toMatchObject({
      request_body_truncated: 'true',
      response_body_truncated: 'true',
    })
  })

  it('should store the client IP only as a keyed hash', async () => {
    const key = await ipHashKey('a-log-secret-of-some-length')
    const other = await ipHashKey('another-log-secret-of-length')
    const a = await buildRecord(facts(), key)
    const b = await buildRecord(facts(), other)
    expect(a.client_ip_hash).toMatch(/^[0-9a-f]{64}$/)
    expect(a.client_ip_hash).not.toBe(b.client_ip_hash)
    expect(JSON.stringify(a)).not.toContain('203.0.113.7')
  })

  it('should keep unknown cost unknown and record refusals without a provider', async () => {
    expect(
      (await buildRecord(facts({ modelServed: 'gpt-unknown' }), undefined)).cost_usd,
    ).toBeNull()
    const refused = await buildRecord(
      facts({
        provider: '',
        modelServed: '',
        status: 401,
        errorCode: 'INVALID_API_KEY',
        usage: undefined,
        upstreamStartedAt: undefined,
        upstreamHeadersAt: undefined,
        response: undefined,
        attempts: 0,
      }),
      undefined,
    )
    expect(refused).toMatchObject({
      status: 401,
      error_code: 'INVALID_API_KEY',
      cost_usd: null,
      ttfb_ms: null,
      upstream_latency_ms: null,
      prompt_tokens: 0,
      response_body: '',
    })
  })

  it('should price estimated usage and say it was estimated, for an answer and a hit', async () => {
    const estimated = {
      promptTokens: 1000,
      completionTokens: 500,
      totalTokens: 1500,
      cachedTokens: 0,
      reasoningTokens: 0,
      estimated: true as const,
    }
    const record = await buildRecord(facts({ stream: true, usage: estimated }), undefined)
    expect(record).toMatchObject({
      prompt_tokens: 1000,
      completion_tokens: 500,
      cost_usd: '0.000450000',
      metadata: { end: 'done', usage_estimated: 'true' },
    })
    const hit = await buildRecord(
      facts({
        cacheStatus: 'HIT',
        usage: undefined,
        cacheHit: { tier: 'exact', savedUsage: estimated },
      }),
      undefined,
    )
    expect(hit.metadata).toMatchObject({ cost_saved_usd: '0.000450000', usage_estimated: 'true' })
    const reported = await buildRecord(facts(), undefined)
    expect(reported.metadata).not.toHaveProperty('usage_estimated')
  })

  it('should list the failed attempts before the answer', async () => {
    const record = await buildRecord(
      facts({
        attempts: 3,
        failedAttempts: ['dead/a: 502 PROVIDER_ERROR', 'dead/a: 502 PROVIDER_ERROR'],
      }),
      undefined,
    )
    expect(record.attempts).toBe(3)
    expect(record.metadata.failed_attempts).toBe(
      'dead/a: 502 PROVIDER_ERROR; dead/a: 502 PROVIDER_ERROR',
    )
    expect((await buildRecord(facts(), undefined)).metadata.failed_attempts).toBeUndefined()
  })

  it('should keep the client’s own request id beside the log id', async () => {
    const record = await buildRecord(facts({ clientRequestId: 'client-42' }), undefined)
    expect(record.metadata.client_request_id).toBe('client-42')
  })
})

describe('buildRecord with a firewall check', () => {
  const usage = {
    promptTokens: 10,
    completionTokens: 3,
    totalTokens: 13,
    cachedTokens: 0,
    reasoningTokens: 0,
  }

  it('should record an unsafe verdict and what its check was', async () => {
    const record = await buildRecord(
      facts({
        status: 400,
        errorCode: 'PROMPT_THREAT_DETECTED',
        firewallVerdict: 'UNSAFE',
        firewallCheck: {
          source: 'model',
          categories: ['S9', 'S10'],
          backend: 'together/meta-llama/Llama-Guard-4-12B',
          modelRef: '[together](meta-llama/Llama-Guard-4-12B)',
          latencyMs: 212.4567,
          usage,
          error: undefined,
        },
      }),
      undefined,
    )
    expect(record.firewall_verdict).toBe('UNSAFE')
    expect(record.metadata).toMatchObject({
      firewall_source: 'model',
      firewall_categories: 'S9,S10',
      firewall_backend: 'together/meta-llama/Llama-Guard-4-12B',
      firewall_model_ref: '[together](meta-llama/Llama-Guard-4-12B)',
      firewall_latency_ms: '212.457',
      firewall_prompt_tokens: '10',
      firewall_completion_tokens: '3',
      // 13 tokens at Together's $0.20 per million: the model name keeps its slashes.
      firewall_cost_usd: '0.000002600',
    })
    expect(record.metadata.firewall_error).toBeUndefined()
  })

  it('should keep the cost of an unpriced backend unknown', async () => {
    const record = await buildRecord(
      facts({
        firewallVerdict: 'SAFE',
        firewallCheck: {
          source: 'model',
          categories: [],
          backend: 'together/meta-llama/Llama-Guard-3-8B',
          modelRef: '[together](meta-llama/Llama-Guard-3-8B)',
          latencyMs: 90,
          usage,
          error: undefined,
        },
      }),
      undefined,
    )
    expect(record.firewall_verdict).toBe('SAFE')
    expect(record.metadata.firewall_cost_usd).toBe('unknown')
    expect(record.metadata.firewall_prompt_tokens).toBe('10')
    expect(record.metadata.firewall_categories).toBeUndefined()
  })

  it('should record a cached verdict without tokens or cost', async () => {
    const record = await buildRecord(
      facts({
        firewallVerdict: 'UNSAFE',
        firewallCheck: {
          source: 'cache',
          categories: ['S1'],
          backend: 'together/meta-llama/Llama-Guard-4-12B',
          modelRef: '[together](meta-llama/Llama-Guard-4-12B)',
          latencyMs: 4,
          usage: undefined,
          error: undefined,
        },
      }),
      undefined,
    )
    expect(record.metadata).toMatchObject({ firewall_source: 'cache', firewall_categories: 'S1' })
    expect(record.metadata.firewall_prompt_tokens).toBeUndefined()
    expect(record.metadata.firewall_cost_usd).toBeUndefined()
  })

  it('should record why a check failed', async () => {
    const record = await buildRecord(
      facts({
        firewallVerdict: 'ERROR',
        firewallCheck: {
          source: 'model',
          categories: [],
          backend: '',
          modelRef: '',
          latencyMs: 3000,
          usage: undefined,
          error: 'Error: firewall check: no answer within 3000 ms',
        },
      }),
      undefined,
    )
    expect(record.firewall_verdict).toBe('ERROR')
    expect(record.metadata).toMatchObject({
      firewall_source: 'model',
      firewall_latency_ms: '3000',
      firewall_error: 'Error: firewall check: no answer within 3000 ms',
    })
    expect(record.metadata.firewall_backend).toBeUndefined()
    expect(record.metadata.firewall_model_ref).toBeUndefined()
  })

  it('should record no firewall metadata when the firewall did not run', async () => {
    const record = await buildRecord(facts(), undefined)
    expect(record.firewall_verdict).toBe('NONE')
    expect(Object.keys(record.metadata).filter((k) => k.startsWith('firewall_'))).toEqual([])
  })
})

describe('texts beside the bodies', () => {
  it.each([
    ['an SSN', '536-22-8174'],
    ['a CPF', '529.982.247-25'],
    ['a provider key', 'sk-proj-AbCdEf0123456789AbCdEf0123456789'],
  ])("should scrub %s from a client's own request id", async (_, secret) => {
    const record = await buildRecord(facts({ clientRequestId: `req-${secret}` }), undefined)
    expect(record.metadata.client_request_id).toBeDefined()
    expect(record.metadata.client_request_id).not.toContain(secret)
  })
})
