/**
 * `npm run dev`'s decision to start the demo endpoint (scripts/dev.ts `configuredProviders`):
 * only when neither the shell nor `.dev.vars` configures a provider — a built-in provider's key or
 * base URL, or `FLOOPY_CUSTOM_PROVIDERS` — with `.dev.vars` winning, as it does for wrangler.
 */
import { describe, expect, it } from 'vitest'
import { configuredProviders } from '../../scripts/dev.ts'

const none = new Map<string, string>()

describe('configuredProviders', () => {
  it('should find none on a fresh machine, so the demo endpoint starts', () => {
    expect(configuredProviders({ PATH: '/usr/bin', HOME: '/home/dev' }, none)).toEqual([])
  })

  it('should ignore what is not provider configuration', () => {
    const shell = {
      FLOOPY_DEV_API_KEY: 'flo_sk_test_x',
      FLOOPY_VAULT_KEKS: '{}',
      FLOOPY_OPENAI_API_KEY: 'sk-not-a-provider-variable',
      SUPABASE_URL: 'https://example.supabase.co',
      UPSTASH_REDIS_REST_URL: 'https://example.upstash.io',
      CLICKHOUSE_URL: 'http://127.0.0.1:8123',
      HUGGINGFACE_API_KEY: 'hf_not_a_gateway_provider',
      OPENAI_ORG_ID: 'org-1',
    }
    expect(configuredProviders(shell, new Map(Object.entries(shell)))).toEqual([])
  })

  it('should count a key or a base URL from the shell', () => {
    expect(configuredProviders({ OPENAI_API_KEY: 'sk-1' }, none)).toEqual(['openai'])
    expect(configuredProviders({ OPENAI_BASE_URL: 'http://127.0.0.1:11434/v1' }, none)).toEqual([
      'openai',
    ])
  })

  it('should count .dev.vars', () => {
    const devVars = new Map([
      ['GROQ_API_KEY', 'gsk_1'],
      ['ANTHROPIC_BASE_URL', 'http://127.0.0.1:9000'],
    ])
    expect(configuredProviders({}, devVars)).toEqual(['anthropic', 'groq'])
  })

  it('should count Bedrock from .dev.vars, never from AWS credentials in the shell', () => {
    const aws = { AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'AKID', AWS_SECRET_ACCESS_KEY: 's' }
    expect(configuredProviders(aws, none)).toEqual([])
    expect(configuredProviders({}, new Map(Object.entries(aws)))).toEqual(['bedrock'])
    expect(
      configuredProviders({}, new Map([['BEDROCK_BASE_URL', 'http://127.0.0.1:9000']])),
    ).toEqual(['bedrock'])
  })

  it('should count FLOOPY_CUSTOM_PROVIDERS from either place', () => {
    const custom = '[{"id":"local","baseUrl":"http://127.0.0.1:11434/v1"}]'
    expect(configuredProviders({ FLOOPY_CUSTOM_PROVIDERS: custom }, none)).toEqual([
      'custom endpoints',
    ])
    const devVars = new Map([['FLOOPY_CUSTOM_PROVIDERS', custom]])
    expect(configuredProviders({ MISTRAL_API_KEY: 'm-1' }, devVars)).toEqual([
      'mistral',
      'custom endpoints',
    ])
  })

  it('should count an empty value as unset', () => {
    expect(configuredProviders({ OPENAI_API_KEY: '', FLOOPY_CUSTOM_PROVIDERS: ' ' }, none)).toEqual(
      [],
    )
  })

  it('should let .dev.vars win over the shell, as wrangler does', () => {
    const devVars = new Map([['DEEPSEEK_API_KEY', '']])
    expect(configuredProviders({ DEEPSEEK_API_KEY: 'sk-shell' }, devVars)).toEqual([])
    const override = new Map([['TOGETHER_API_KEY', 'from-dev-vars']])
    expect(configuredProviders({ TOGETHER_API_KEY: '' }, override)).toEqual(['together'])
  })
})
