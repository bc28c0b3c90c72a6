/**
 * @module The bindings the Worker under test gets: every provider points at the fake providers
 * (see `fake-providers.ts`), each in the base-URL form that provider's own SDK uses.
 */
/** A well-formed test-mode key (see `src/security/api-key.ts`): right shape, real checksum. */
export const TEST_DEV_API_KEY = 'flo_sk_test_TestSuiteDevKey0000000000000000A_a3b9c8be'

export const CLICKHOUSE_USER = 'floopy_test'
export const CLICKHOUSE_PASSWORD = 'test-clickhouse-password'
export const LOG_IP_HASH_KEY = 'test-log-ip-hash-key-0123456789'

/** The request log's ClickHouse, for the Queue consumer of the Worker under test. */
export const clickhouseBindings = (url: string): Record<string, string> => ({
  CLICKHOUSE_URL: url,
  CLICKHOUSE_USER,
  CLICKHOUSE_PASSWORD,
  FLOOPY_LOG_IP_HASH_KEY: LOG_IP_HASH_KEY,
})

export const workerTestBindings = (fakeUrl: string): Record<string, string> => ({
  FLOOPY_DEV_API_KEY: TEST_DEV_API_KEY,
  OPENAI_API_KEY: 'sk-test-openai-upstream-secret',
  OPENAI_BASE_URL: `${fakeUrl}/openai/v1`,
  ANTHROPIC_API_KEY: 'sk-ant-test-anthropic-upstream-secret',
  ANTHROPIC_BASE_URL: `${fakeUrl}/anthropic`,
  GEMINI_API_KEY: 'test-gemini-upstream-secret',
  GEMINI_BASE_URL: `${fakeUrl}/gemini`,
  GROQ_API_KEY: 'gsk_test_groq_upstream_secret',
  GROQ_BASE_URL: `${fakeUrl}/groq`,
  MISTRAL_API_KEY: 'test-mistral-upstream-secret',
  MISTRAL_BASE_URL: `${fakeUrl}/mistral`,
  DEEPSEEK_API_KEY: 'sk-test-deepseek-upstream-secret',
  DEEPSEEK_BASE_URL: `${fakeUrl}/deepseek`,
  TOGETHER_API_KEY: 'test-together-upstream-secret',
  TOGETHER_BASE_URL: `${fakeUrl}/together/v1`,
  FLOOPY_CUSTOM_PROVIDERS: JSON.stringify([
    { id: 'local', baseUrl: `${fakeUrl}/custom/v1`, apiKey: 'test-local-upstream-secret' },
  ]),
})

/** `bindings` minus the dev key: the gateway then knows only the tenants of its stores. */
export const withoutDevKey = (bindings: Record<string, string>): Record<string, string> =>
  Object.fromEntries(Object.entries(bindings).filter(([name]) => name !== 'FLOOPY_DEV_API_KEY'))
