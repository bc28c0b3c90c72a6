/**
 * @module The bindings the Worker under test gets: every provider points at the fake providers
 * (see `fake-providers.ts`), each in the base-URL form that provider's own SDK uses.
 */
/** A well-formed test-mode key (see `src/security/api-key.ts`): right shape, real checksum. */
export const TEST_DEV_API_KEY = 'flo_sk_test_TestSuiteDevKey0000000000000000A_a3b9c8be'

export const CLICKHOUSE_USER = 'floopy_test'
export const CLICKHOUSE_PASSWORD = 'test-clickhouse-password'
export const LOG_IP_HASH_KEY = 'test-log-ip-hash-key-0123456789'

/**
 * The request log's keyring (`FLOOPY_LOG_KEYS`): `test-2` seals, `test-1` is a key rotated away
 * from that still opens. Fixed bytes, test-only.
 */
export const LOG_KEYS = JSON.stringify({
  current: 'test-2',
  keys: {
    'test-1': 'dGVzdC1sb2cta2V5LTEtMDEyMzQ1Njc4OWFiY2RlZjA=',
    'test-2': 'dGVzdC1sb2cta2V5LTItMDEyMzQ1Njc4OWFiY2RlZjA=',
  },
})

/** The request log's Queue keys and ClickHouse, for the Worker under test and its consumer. */
export const clickhouseBindings = (url: string): Record<string, string> => ({
  CLICKHOUSE_URL: url,
  CLICKHOUSE_USER,
  CLICKHOUSE_PASSWORD,
  FLOOPY_LOG_IP_HASH_KEY: LOG_IP_HASH_KEY,
  FLOOPY_LOG_KEYS: LOG_KEYS,
})

/**
 * What the fake Amazon Bedrock Runtime (`fakes/bedrock.ts`, which re-exports them) accepts: SigV4
 * with service `bedrock` in {@link BEDROCK_REGION} for these credentials (long-term, or temporary
 * with their session token in `x-amz-security-token`), or `Authorization: Bearer` with the API key.
 * Defined here, without imports, because Worker tests running in workerd import this module.
 */
export const BEDROCK_REGION = 'us-east-1'
export const BEDROCK_CREDENTIALS = {
  accessKeyId: 'AKIAFAKEBEDROCK0TEST',
  secretAccessKey: 'fakeBedrockTestSecret/K7MDENG+bPxRfiCYKEY',
} as const
export const BEDROCK_SESSION_CREDENTIALS = {
  accessKeyId: 'ASIAFAKEBEDROCK0TEMP',
  secretAccessKey: 'fakeBedrockTempSecret/wJalrXUtnFEMI+TEMPKEY',
  sessionToken:
    'IQoJb3JpZ2luX2VjEFakeBedrockSessionTokenForTheTestSuite//////////wEaCXVzLWVhc3QtMQ==',
} as const
/** A Bedrock API key has the long-term keys' shape: `ABSK` + base64 of `BedrockAPIKey-…:secret`. */
export const BEDROCK_API_KEY =
  'ABSKQmVkcm9ja0FQSUtleS1mYWtlLWF0LTAwMDAwMDAwMDAwMDpmYWtlQmVkcm9ja0FwaUtleVNlY3JldEZvclRoZVRlc3Rz'

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
  AWS_REGION: BEDROCK_REGION,
  AWS_ACCESS_KEY_ID: BEDROCK_CREDENTIALS.accessKeyId,
  AWS_SECRET_ACCESS_KEY: BEDROCK_CREDENTIALS.secretAccessKey,
  BEDROCK_BASE_URL: `${fakeUrl}/bedrock`,
  FLOOPY_CUSTOM_PROVIDERS: JSON.stringify([
    { id: 'local', baseUrl: `${fakeUrl}/custom/v1`, apiKey: 'test-local-upstream-secret' },
  ]),
})

/** `bindings` minus the dev key: the gateway then knows only the tenants of its stores. */
export const withoutDevKey = (bindings: Record<string, string>): Record<string, string> =>
  Object.fromEntries(Object.entries(bindings).filter(([name]) => name !== 'FLOOPY_DEV_API_KEY'))
