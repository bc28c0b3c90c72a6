import { afterEach, describe, expect, it, vi } from 'vitest'
import { loadConfig, parseConfig } from './config'
import type { Bindings } from './env'
import { GatewayError } from './errors'
import { TEST_DEV_API_KEY } from '../test/support/bindings'

const DEV_KEY = TEST_DEV_API_KEY
const minimal: Bindings = { FLOOPY_DEV_API_KEY: DEV_KEY }

/** The error `parseConfig` throws for `bindings`; fails the test when it throws anything else. */
const configError = (bindings: Bindings): GatewayError => {
  let thrown: unknown
  try {
    parseConfig(bindings)
  } catch (err) {
    thrown = err
  }
  expect(thrown).toBeInstanceOf(GatewayError)
  if (!(thrown instanceof GatewayError)) throw new Error('parseConfig did not throw a GatewayError')
  expect(thrown.code).toBe('CONFIG_INVALID')
  expect(thrown.status).toBe(500)
  return thrown
}

describe('parseConfig', () => {
  it('should accept the minimal configuration with defaults', () => {
    const config = parseConfig(minimal)
    expect(config.devApiKey).toBe(DEV_KEY)
    expect(config.providers.size).toBe(0)
    expect(config.upstreamTimeoutMs).toBe(600_000)
    expect(config.maxBodyBytes).toBe(10 * 1024 * 1024)
    expect(config.accessLog).toBe(false)
    expect(config.attemptTimeoutMs).toBe(120_000)
    expect(config.routingDeadlineMs).toBe(300_000)
    expect(config.breaker).toEqual({
      windowMs: 30_000,
      minRequests: 10,
      failureRate: 0.5,
      coolDownMs: 15_000,
      halfOpenProbes: 1,
    })
    expect(config.syncIntervalMs).toBe(1000)
    expect(config.retry.maxAttemptsPerTarget).toBe(2)
  })

  it('should trim the dev API key', () => {
    expect(parseConfig({ FLOOPY_DEV_API_KEY: `  ${DEV_KEY}\n` }).devApiKey).toBe(DEV_KEY)
  })

  it('should read the numeric and boolean settings', () => {
    const config = parseConfig({
      ...minimal,
      FLOOPY_UPSTREAM_TIMEOUT_MS: '5000',
      FLOOPY_MAX_BODY_BYTES: '1048576',
      FLOOPY_ACCESS_LOG: 'true',
      FLOOPY_ROUTING_DEADLINE_MS: '9000',
      FLOOPY_BREAKER_COOLDOWN_MS: '2500',
      FLOOPY_BREAKER_WINDOW_MS: '60000',
      FLOOPY_BREAKER_MIN_REQUESTS: '20',
      FLOOPY_BREAKER_FAILURE_RATE: '0.25',
      FLOOPY_SYNC_INTERVAL_MS: '250',
      FLOOPY_TRIES_PER_TARGET: '1',
    })
    expect(config.upstreamTimeoutMs).toBe(5000)
    expect(config.maxBodyBytes).toBe(1_048_576)
    expect(config.accessLog).toBe(true)
    expect(config.routingDeadlineMs).toBe(9000)
    expect(config.breaker).toEqual({
      windowMs: 60_000,
      minRequests: 20,
      failureRate: 0.25,
      coolDownMs: 2500,
      halfOpenProbes: 1,
    })
    expect(config.syncIntervalMs).toBe(250)
    expect(config.retry.maxAttemptsPerTarget).toBe(1)
  })

  it('should never give a routed try longer than the upstream timeout', () => {
    const config = parseConfig({
      ...minimal,
      FLOOPY_UPSTREAM_TIMEOUT_MS: '5000',
      FLOOPY_ATTEMPT_TIMEOUT_MS: '60000',
    })
    expect(config.attemptTimeoutMs).toBe(5000)
  })

  describe('built-in providers', () => {
    it.each([
      ['openai', 'OPENAI', 'https://api.openai.com/v1', 'https://api.openai.com'],
      ['anthropic', 'ANTHROPIC', 'https://api.anthropic.com', 'https://api.anthropic.com'],
      [
        'gemini',
        'GEMINI',
        'https://generativelanguage.googleapis.com',
        'https://generativelanguage.googleapis.com',
      ],
      ['groq', 'GROQ', 'https://api.groq.com', 'https://api.groq.com'],
      ['mistral', 'MISTRAL', 'https://api.mistral.ai', 'https://api.mistral.ai'],
      ['deepseek', 'DEEPSEEK', 'https://api.deepseek.com', 'https://api.deepseek.com'],
      ['together', 'TOGETHER', 'https://api.together.xyz/v1', 'https://api.together.xyz'],
    ] as const)(
      'should configure %s from its API key alone, at its default URL',
      (id, prefix, baseUrl, origin) => {
        const config = parseConfig({ ...minimal, [`${prefix}_API_KEY`]: 'secret-key-value' })
        expect([...config.providers.keys()]).toEqual([id])
        const provider = config.providers.get(id)
        expect(provider?.spec.id).toBe(id)
        expect(provider?.baseUrl).toBe(baseUrl)
        expect(provider?.origin).toBe(origin)
        expect(provider?.apiKey).toBe('secret-key-value')
        expect(provider?.operatorConfigured).toBe(false)
        expect(provider?.models).toEqual([])
      },
    )

    it.each([
      ['openai', 'OPENAI'],
      ['anthropic', 'ANTHROPIC'],
      ['gemini', 'GEMINI'],
      ['groq', 'GROQ'],
      ['mistral', 'MISTRAL'],
      ['deepseek', 'DEEPSEEK'],
      ['together', 'TOGETHER'],
    ] as const)('should configure %s from its base URL alone', (id, prefix) => {
      const config = parseConfig({
        ...minimal,
        [`${prefix}_BASE_URL`]: 'http://10.0.0.5:8080/proxy',
      })
      expect([...config.providers.keys()]).toEqual([id])
      const provider = config.providers.get(id)
      expect(provider?.baseUrl).toBe('http://10.0.0.5:8080/proxy')
      expect(provider?.origin).toBe('http://10.0.0.5:8080')
      expect(provider?.apiKey).toBeUndefined()
      expect(provider?.operatorConfigured).toBe(true)
    })

    it('should trim trailing slashes from a base URL', () => {
      const config = parseConfig({
        ...minimal,
        OPENAI_BASE_URL: 'https://gateway.example.com/openai/v1///',
        GROQ_BASE_URL: 'https://groq.example.com/',
      })
      expect(config.providers.get('openai')?.baseUrl).toBe('https://gateway.example.com/openai/v1')
      expect(config.providers.get('groq')?.baseUrl).toBe('https://groq.example.com')
    })

    it('should configure only the providers that have a key or a base URL', () => {
      const config = parseConfig({
        ...minimal,
        OPENAI_API_KEY: 'sk-openai-key-0000',
        MISTRAL_BASE_URL: 'https://mistral.example.com',
      })
      expect([...config.providers.keys()].sort()).toEqual(['mistral', 'openai'])
    })

    it('should trim an API key', () => {
      const config = parseConfig({ ...minimal, OPENAI_API_KEY: ' sk-openai-key-0000\n' })
      expect(config.providers.get('openai')?.apiKey).toBe('sk-openai-key-0000')
    })
  })

  describe('invalid values', () => {
    it.each([
      ['not a url', 'not a url'],
      ['an empty string', ''],
      ['an unterminated IPv6 host', 'http://[::1'],
      ['another scheme', 'ftp://files.example.com/v1'],
      ['credentials', 'https://admin:hunter2secret@api.example.com/v1'],
      ['a query string', 'https://api.example.com/v1?api_key=qs-secret-123'],
      ['a fragment', 'https://api.example.com/v1#frag-secret-123'],
    ])(
      'should reject a base URL with %s, naming the variable but not the value',
      (_what, value) => {
        const error = configError({ ...minimal, OPENAI_BASE_URL: value })
        expect(error.message).toContain('OPENAI_BASE_URL')
        if (value.length > 0) expect(error.message).not.toContain(value)
        expect(error.message).not.toContain('secret')
      },
    )

    it('should reject an empty API key, naming the variable', () => {
      const error = configError({ ...minimal, GROQ_API_KEY: '   ' })
      expect(error.message).toContain('GROQ_API_KEY')
    })

    it('should name FLOOPY_DEV_API_KEY when it is missing', () => {
      const error = configError({})
      expect(error.message).toContain('FLOOPY_DEV_API_KEY')
    })

    it('should reject a dev key that is not a gateway key without echoing it', () => {
      const error = configError({ FLOOPY_DEV_API_KEY: 'shortkey99' })
      expect(error.message).toContain('FLOOPY_DEV_API_KEY')
      expect(error.message).not.toContain('shortkey99')
    })

    it.each([
      ['FLOOPY_UPSTREAM_TIMEOUT_MS', 'soon'],
      ['FLOOPY_UPSTREAM_TIMEOUT_MS', '0'],
      ['FLOOPY_UPSTREAM_TIMEOUT_MS', '1.5'],
      ['FLOOPY_MAX_BODY_BYTES', '-1'],
      ['FLOOPY_ACCESS_LOG', 'yes'],
      ['FLOOPY_TRIES_PER_TARGET', '0'],
      ['FLOOPY_TRIES_PER_TARGET', '6'],
      ['FLOOPY_BREAKER_COOLDOWN_MS', 'never'],
      ['FLOOPY_BREAKER_WINDOW_MS', '999'],
      ['FLOOPY_BREAKER_MIN_REQUESTS', '0'],
      ['FLOOPY_BREAKER_MIN_REQUESTS', '2.5'],
      ['FLOOPY_BREAKER_FAILURE_RATE', '0'],
      ['FLOOPY_BREAKER_FAILURE_RATE', '1.5'],
      ['FLOOPY_BREAKER_FAILURE_RATE', 'half'],
      ['FLOOPY_SYNC_INTERVAL_MS', '50'],
      ['FLOOPY_SYNC_INTERVAL_MS', '60001'],
    ] as const)('should reject %s=%s, naming the variable', (name, value) => {
      const error = configError({ ...minimal, [name]: value })
      expect(error.message).toContain(name)
    })

    it('should name every invalid variable at once', () => {
      const error = configError({
        ...minimal,
        OPENAI_BASE_URL: 'ftp://x.example.com',
        FLOOPY_ACCESS_LOG: 'on',
      })
      expect(error.message).toContain('OPENAI_BASE_URL')
      expect(error.message).toContain('FLOOPY_ACCESS_LOG')
    })
  })

  describe('FLOOPY_CUSTOM_PROVIDERS', () => {
    const custom = (value: unknown): Bindings => ({
      ...minimal,
      FLOOPY_CUSTOM_PROVIDERS: JSON.stringify(value),
    })

    it('should add operator endpoints with their models and key', () => {
      const config = parseConfig(
        custom([
          {
            id: 'local',
            baseUrl: 'http://127.0.0.1:11434/v1/',
            apiKey: 'local-key-123',
            models: ['llama3.2', 'qwen2.5:7b'],
          },
          { id: 'vllm-2', baseUrl: 'https://vllm.internal/v1', streamOptions: false },
        ]),
      )
      const local = config.providers.get('local')
      expect(local?.baseUrl).toBe('http://127.0.0.1:11434/v1')
      expect(local?.origin).toBe('http://127.0.0.1:11434')
      expect(local?.apiKey).toBe('local-key-123')
      expect(local?.operatorConfigured).toBe(true)
      expect(local?.models).toEqual(['llama3.2', 'qwen2.5:7b'])
      expect(local?.spec.id).toBe('local')
      expect(local?.spec.family).toBe('openai-compatible')
      expect(local?.spec.quirks.streamUsage).toBe('stream-options')

      const vllm = config.providers.get('vllm-2')
      expect(vllm?.apiKey).toBeUndefined()
      expect(vllm?.models).toEqual([])
      expect(vllm?.spec.quirks.streamUsage).toBe('final-chunk')
    })

    it('should accept an empty list', () => {
      expect(parseConfig(custom([])).providers.size).toBe(0)
    })

    it('should name the variable when the value is not valid JSON', () => {
      const error = configError({ ...minimal, FLOOPY_CUSTOM_PROVIDERS: '[{"id": "local",' })
      expect(error.message).toContain('FLOOPY_CUSTOM_PROVIDERS')
      expect(error.message).toContain('must be valid JSON')
    })

    it('should name the variable when the value is not an array', () => {
      const error = configError(custom({ id: 'local', baseUrl: 'http://127.0.0.1:8000' }))
      expect(error.message).toContain('FLOOPY_CUSTOM_PROVIDERS')
    })

    it.each(['Local', 'my_endpoint', '-local', '', 'a'.repeat(33), 'dot.ted'])(
      'should reject the id %j, naming the field',
      (id) => {
        const error = configError(custom([{ id, baseUrl: 'http://127.0.0.1:8000' }]))
        expect(error.message).toContain('FLOOPY_CUSTOM_PROVIDERS.0.id')
      },
    )

    it.each(['openai', 'groq', 'mistral', 'anthropic'])(
      'should reject reusing the built-in id %s',
      (id) => {
        const error = configError(custom([{ id, baseUrl: 'http://127.0.0.1:8000' }]))
        expect(error.message).toContain('FLOOPY_CUSTOM_PROVIDERS.0.id')
        expect(error.message).toContain('built-in')
      },
    )

    it('should reject a missing base URL, naming the field', () => {
      const error = configError(custom([{ id: 'local' }]))
      expect(error.message).toContain('FLOOPY_CUSTOM_PROVIDERS.0.baseUrl')
    })

    it('should reject an invalid base URL without echoing it', () => {
      const error = configError(
        custom([{ id: 'local', baseUrl: 'http://user:pw-secret-42@127.0.0.1:8000' }]),
      )
      expect(error.message).toContain('FLOOPY_CUSTOM_PROVIDERS.0.baseUrl')
      expect(error.message).not.toContain('pw-secret-42')
    })

    it.each(['localhost:8000', 'not a url'])(
      'should reject the base URL %j, naming the field',
      (baseUrl) => {
        const error = configError(custom([{ id: 'local', baseUrl }]))
        expect(error.message).toContain('FLOOPY_CUSTOM_PROVIDERS.0.baseUrl')
      },
    )

    it('should reject unknown keys in an entry', () => {
      const error = configError(
        custom([{ id: 'local', baseUrl: 'http://127.0.0.1:8000', api_key: 'typo-secret-7' }]),
      )
      expect(error.message).toContain('FLOOPY_CUSTOM_PROVIDERS.0')
      expect(error.message).not.toContain('typo-secret-7')
    })
  })
})

describe('parseConfig: stores and tenancy', () => {
  const keyring = JSON.stringify({ current: 'k1', keys: { k1: btoa('k'.repeat(32)) } })
  const tenants = JSON.stringify({
    version: 1,
    organizations: [],
    api_keys: [],
    provider_keys: [],
    routing_rules: [],
  })

  it('should default to the embedded stores with the documented limits', () => {
    const config = parseConfig(minimal)
    expect(config.supabase).toBeUndefined()
    expect(config.upstash).toBeUndefined()
    expect(config.tenants).toBeUndefined()
    expect(config.keyring).toBeUndefined()
    expect(config.ipRpm).toBe(20)
    expect(config.storeTimeoutMs).toBe(2000)
  })

  it('should read Supabase and Upstash, trimming trailing slashes, and drop the dev key', () => {
    const config = parseConfig({
      ...minimal,
      SUPABASE_URL: 'https://project.supabase.co/',
      SUPABASE_SERVICE_ROLE_KEY: 'service-role',
      UPSTASH_REDIS_REST_URL: 'https://eu1-x.upstash.io/',
      UPSTASH_REDIS_REST_TOKEN: 'token',
    })
    expect(config.supabase).toEqual({
      url: 'https://project.supabase.co',
      serviceRoleKey: 'service-role',
    })
    expect(config.upstash).toEqual({ url: 'https://eu1-x.upstash.io', token: 'token' })
    expect(config.devApiKey).toBeUndefined()
  })

  it('should need no dev key when a config store or a tenants file is set', () => {
    expect(
      parseConfig({ SUPABASE_URL: 'https://p.supabase.co', SUPABASE_SERVICE_ROLE_KEY: 's' })
        .supabase,
    ).toBeDefined()
    expect(parseConfig({ FLOOPY_TENANTS: tenants }).tenants?.version).toBe(1)
  })

  it.each([
    [{ SUPABASE_URL: 'https://p.supabase.co' }, 'SUPABASE_SERVICE_ROLE_KEY'],
    [{ SUPABASE_SERVICE_ROLE_KEY: 'secret-value-1' }, 'SUPABASE_URL'],
    [{ UPSTASH_REDIS_REST_URL: 'https://u.upstash.io' }, 'UPSTASH_REDIS_REST_TOKEN'],
    [{ UPSTASH_REDIS_REST_TOKEN: 'secret-value-2' }, 'UPSTASH_REDIS_REST_URL'],
  ])('should require both halves of a store pair (%o)', (extra, missing) => {
    const error = configError({ ...minimal, ...extra })
    expect(error.message).toContain(missing)
    expect(error.message).not.toContain('secret-value')
  })

  it('should parse the vault keyring and reject a bad one without echoing it', () => {
    expect(parseConfig({ ...minimal, FLOOPY_VAULT_KEKS: keyring }).keyring).toBeDefined()
    const error = configError({
      ...minimal,
      FLOOPY_VAULT_KEKS: '{"current":"k1","keys":{"k1":"c2hvcnQ"}}',
    })
    expect(error.message).toContain('FLOOPY_VAULT_KEKS')
    expect(error.message).not.toContain('c2hvcnQ')
  })

  it('should reject a tenants file that is not JSON or has the wrong shape, naming the field', () => {
    expect(configError({ ...minimal, FLOOPY_TENANTS: '{' }).message).toContain('FLOOPY_TENANTS')
    const wrong = JSON.stringify({ ...JSON.parse(tenants), organizations: [{ id: 'x' }] })
    const error = configError({ ...minimal, FLOOPY_TENANTS: wrong })
    expect(error.message).toContain('FLOOPY_TENANTS.organizations.0')
  })

  it('should reject a non-positive FLOOPY_IP_RPM', () => {
    expect(configError({ ...minimal, FLOOPY_IP_RPM: '0' }).message).toContain('FLOOPY_IP_RPM')
  })

  it('should ask for stream usage only where clients ask by default, and for every stream with FLOOPY_STREAM_USAGE=always', () => {
    const custom = JSON.stringify([{ id: 'local', baseUrl: 'http://127.0.0.1:11434/v1' }])
    const always = parseConfig({
      ...minimal,
      OPENAI_API_KEY: 'sk-test',
      FLOOPY_CUSTOM_PROVIDERS: custom,
      FLOOPY_STREAM_USAGE: 'always',
    })
    expect(always.providers.size).toBe(2)
    expect([...always.providers.values()].map((p) => p.captureStreamUsage !== false)).not.toContain(
      false,
    )
    for (const env of [{}, { FLOOPY_STREAM_USAGE: 'asked' }]) {
      const asked = parseConfig({
        ...minimal,
        OPENAI_API_KEY: 'sk-test',
        FLOOPY_CUSTOM_PROVIDERS: custom,
        ...env,
      })
      expect(asked.providers.size).toBe(2)
      for (const provider of asked.providers.values()) {
        expect(provider.captureStreamUsage).toBe(false)
      }
    }
    expect(configError({ ...minimal, FLOOPY_STREAM_USAGE: 'never' }).message).toContain(
      'FLOOPY_STREAM_USAGE',
    )
  })
})

describe('parseConfig: the response cache', () => {
  it('should default to no embedding model, no Qdrant and the documented time limits', () => {
    const config = parseConfig(minimal)
    expect(config.embeddingModel).toBeUndefined()
    expect(config.qdrant).toBeUndefined()
    expect(config.embeddingTimeoutMs).toBe(2_000)
    expect(config.cacheLookupTimeoutMs).toBe(1_000)
  })

  it('should read the embedding model, Qdrant and the limits', () => {
    const config = parseConfig({
      ...minimal,
      FLOOPY_EMBEDDING_MODEL: 'openai/text-embedding-3-small',
      QDRANT_URL: 'https://qdrant.example.com:6333/',
      QDRANT_API_KEY: 'qd-secret',
      FLOOPY_EMBEDDING_TIMEOUT_MS: '500',
      FLOOPY_CACHE_LOOKUP_TIMEOUT_MS: '250',
    })
    expect(config.embeddingModel).toBe('openai/text-embedding-3-small')
    expect(config.qdrant).toEqual({ url: 'https://qdrant.example.com:6333', apiKey: 'qd-secret' })
    expect(config.embeddingTimeoutMs).toBe(500)
    expect(config.cacheLookupTimeoutMs).toBe(250)
  })

  it.each([
    ['FLOOPY_EMBEDDING_MODEL', 'text-embedding-3-small'],
    ['FLOOPY_EMBEDDING_MODEL', 'OpenAI/x'],
    ['QDRANT_URL', 'qdrant:6333'],
    ['FLOOPY_EMBEDDING_TIMEOUT_MS', '0'],
    ['FLOOPY_CACHE_LOOKUP_TIMEOUT_MS', 'fast'],
  ])('should refuse %s=%s naming it, not its value', (name, value) => {
    const error = configError({ ...minimal, [name]: value })
    expect(error.message).toContain(name)
    if (value.length > 3) expect(error.message).not.toContain(value)
  })
})

describe('parseConfig: the LLM firewall', () => {
  it('should default to Llama Guard 4 on Together and the documented limits', () => {
    const { firewall } = parseConfig(minimal)
    expect(firewall).toEqual({
      backends: [{ provider: 'together', model: 'meta-llama/Llama-Guard-4-12B', weight: 1 }],
      explicit: false,
      timeoutMs: 3_000,
      cacheThreshold: 0.95,
      cacheTtlSeconds: 2_592_000,
    })
  })

  it('should read a weighted distribution of backends and the limits', () => {
    const { firewall } = parseConfig({
      ...minimal,
      FIREWALL_MODEL:
        '[together](meta-llama/Llama-Guard-4-12B):0.5, [anthropic](claude-3-5-haiku-latest):1.5',
      FIREWALL_TIMEOUT_MS: '800',
      FIREWALL_CACHE_THRESHOLD: '0.9',
      FIREWALL_CACHE_TTL_SECONDS: '3600',
    })
    expect(firewall).toEqual({
      backends: [
        { provider: 'together', model: 'meta-llama/Llama-Guard-4-12B', weight: 0.5 },
        { provider: 'anthropic', model: 'claude-3-5-haiku-latest', weight: 1.5 },
      ],
      explicit: true,
      timeoutMs: 800,
      cacheThreshold: 0.9,
      cacheTtlSeconds: 3600,
    })
  })

  it.each([
    ['FIREWALL_MODEL', 'meta-llama/Llama-Guard-4-12B'],
    ['FIREWALL_MODEL', '[together](meta-llama/Llama-Guard-4-12B):-1'],
    ['FIREWALL_MODEL', ''],
    ['FIREWALL_TIMEOUT_MS', '0'],
    ['FIREWALL_CACHE_THRESHOLD', '1.5'],
    ['FIREWALL_CACHE_THRESHOLD', '0'],
    ['FIREWALL_CACHE_TTL_SECONDS', 'forever'],
  ])('should refuse %s=%s naming it', (name, value) => {
    const error = configError({ ...minimal, [name]: value })
    expect(error.message).toContain(name)
  })
})

describe('loadConfig', () => {
  afterEach(() => {
    vi.restoreAllMocks()
  })

  it('should parse a bindings object once and return the same config', () => {
    const bindings: Bindings = { ...minimal, OPENAI_API_KEY: 'sk-openai-key-0000' }
    const first = loadConfig(bindings)
    expect(first.providers.get('openai')?.apiKey).toBe('sk-openai-key-0000')
    expect(loadConfig(bindings)).toBe(first)
  })

  it('should parse each bindings object separately', () => {
    const a = loadConfig({ ...minimal })
    const b = loadConfig({ ...minimal, FLOOPY_ACCESS_LOG: 'true' })
    expect(b).not.toBe(a)
    expect(a.accessLog).toBe(false)
    expect(b.accessLog).toBe(true)
  })

  it('should throw the same configuration error every time and log it once', () => {
    const log = vi.spyOn(console, 'error').mockImplementation(() => undefined)
    const bindings: Bindings = { ...minimal, FLOOPY_ACCESS_LOG: 'maybe' }
    const errors: unknown[] = []
    for (let i = 0; i < 3; i++) {
      try {
        loadConfig(bindings)
      } catch (err) {
        errors.push(err)
      }
    }
    expect(errors).toHaveLength(3)
    expect(errors[0]).toBeInstanceOf(GatewayError)
    expect(errors[1]).toBe(errors[0])
    expect(errors[2]).toBe(errors[0])
    expect(log).toHaveBeenCalledTimes(1)
    expect(String(log.mock.calls[0]?.[0])).toContain('FLOOPY_ACCESS_LOG')
  })

  it('should turn an unparsable base URL into a configuration error', () => {
    vi.spyOn(console, 'error').mockImplementation(() => undefined)
    const bindings: Bindings = { ...minimal, TOGETHER_BASE_URL: 'api.together.xyz/v1' }
    expect(() => loadConfig(bindings)).toThrow(GatewayError)
    expect(() => loadConfig(bindings)).toThrow(/TOGETHER_BASE_URL/)
  })
})

describe('parseConfig: Amazon Bedrock', () => {
  const SECRET = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY'

  it("should configure Bedrock from an access key pair at its Region's host", () => {
    const config = parseConfig({
      ...minimal,
      AWS_REGION: 'eu-west-1',
      AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
      AWS_SECRET_ACCESS_KEY: ` ${SECRET}\n`,
      AWS_SESSION_TOKEN: 'session-token',
    })
    expect([...config.providers.keys()]).toEqual(['bedrock'])
    const provider = config.providers.get('bedrock')
    expect(provider?.spec.family).toBe('bedrock')
    expect(provider?.baseUrl).toBe('https://bedrock-runtime.eu-west-1.amazonaws.com')
    expect(provider?.origin).toBe('https://bedrock-runtime.eu-west-1.amazonaws.com')
    expect(provider?.operatorConfigured).toBe(false)
    // The key is the credential JSON an organisation would store in the vault.
    expect(JSON.parse(provider?.apiKey ?? '')).toEqual({
      region: 'eu-west-1',
      accessKeyId: 'AKIDEXAMPLE',
      secretAccessKey: SECRET,
      sessionToken: 'session-token',
    })
  })

  it('should configure Bedrock from a Bedrock API key', () => {
    const provider = parseConfig({
      ...minimal,
      AWS_REGION: 'us-west-2',
      AWS_BEARER_TOKEN_BEDROCK: 'ABSKexamplekey',
    }).providers.get('bedrock')
    expect(JSON.parse(provider?.apiKey ?? '')).toEqual({
      region: 'us-west-2',
      apiKey: 'ABSKexamplekey',
    })
    expect(provider?.baseUrl).toBe('https://bedrock-runtime.us-west-2.amazonaws.com')
  })

  it('should use BEDROCK_BASE_URL as an operator-configured endpoint, with or without keys', () => {
    const proxy = parseConfig({
      ...minimal,
      BEDROCK_BASE_URL: 'http://127.0.0.1:9000/bedrock/',
    }).providers.get('bedrock')
    expect(proxy?.baseUrl).toBe('http://127.0.0.1:9000/bedrock')
    expect(proxy?.operatorConfigured).toBe(true)
    expect(proxy?.apiKey).toBeUndefined()
    const signed = parseConfig({
      ...minimal,
      BEDROCK_BASE_URL: 'https://vpce-1.bedrock-runtime.us-east-1.vpce.amazonaws.com',
      AWS_REGION: 'us-east-1',
      AWS_BEARER_TOKEN_BEDROCK: 'ABSKexamplekey',
    }).providers.get('bedrock')
    expect(signed?.baseUrl).toBe('https://vpce-1.bedrock-runtime.us-east-1.vpce.amazonaws.com')
    expect(signed?.apiKey).toContain('ABSKexamplekey')
  })

  it('should not configure Bedrock from a Region alone', () => {
    expect(parseConfig({ ...minimal, AWS_REGION: 'us-east-1' }).providers.size).toBe(0)
  })

  it('should refuse every combination that cannot work, naming the variable and no value', () => {
    const cases: readonly [Bindings, RegExp][] = [
      [{ AWS_ACCESS_KEY_ID: 'AKID', AWS_SECRET_ACCESS_KEY: SECRET }, /AWS_REGION: is required/],
      [
        { AWS_BEARER_TOKEN_BEDROCK: 'ABSKk' },
        /AWS_REGION: is required with AWS_BEARER_TOKEN_BEDROCK/,
      ],
      [
        { AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'AKID' },
        /AWS_SECRET_ACCESS_KEY: is required/,
      ],
      [
        { AWS_REGION: 'us-east-1', AWS_SESSION_TOKEN: 'token-value' },
        /AWS_SESSION_TOKEN: is used only with/,
      ],
      [
        {
          AWS_REGION: 'us-east-1',
          AWS_ACCESS_KEY_ID: 'AKID',
          AWS_SECRET_ACCESS_KEY: SECRET,
          AWS_BEARER_TOKEN_BEDROCK: 'ABSKk',
        },
        /AWS_BEARER_TOKEN_BEDROCK: cannot be combined/,
      ],
      [
        { AWS_REGION: 'us-east-1.evil.example', AWS_BEARER_TOKEN_BEDROCK: 'ABSKk' },
        /AWS_REGION: must be an AWS Region/,
      ],
      [
        { AWS_REGION: 'us-east-1', AWS_BEARER_TOKEN_BEDROCK: 'has a space' },
        /AWS_BEARER_TOKEN_BEDROCK/,
      ],
      [{ BEDROCK_BASE_URL: 'bedrock.example.com' }, /BEDROCK_BASE_URL/],
    ]
    for (const [bindings, expected] of cases) {
      const error = configError({ ...minimal, ...bindings })
      expect(error.message, JSON.stringify(bindings)).toMatch(expected)
      expect(error.message).not.toContain(SECRET)
      expect(error.message).not.toContain('evil')
      expect(error.message).not.toContain('has a space')
    }
  })
})
