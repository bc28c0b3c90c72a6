/**
 * @module The gateway's configuration, parsed from its bindings.
 *
 * Configuration is read from the Worker's bindings (vars and secrets), validated once with zod and
 * memoised per bindings object, so the hot path never re-parses it. A bad value fails loudly: every
 * request answers 500 `CONFIG_INVALID` naming the offending variable (never its value).
 */
import * as z from 'zod'
import { GatewayError } from './errors'
import { DEFAULT_FIREWALL_MODEL, parseBackends, type Backend } from './firewall/classifier'
import {
  credentialsText,
  operatorCredentials,
  regionalBaseUrl,
} from './providers/bedrock/credentials'
import { BUILTIN_PROVIDER_IDS, PROVIDERS, customProviderSpec } from './providers/registry'
import { parseApiKey } from './security/api-key'
import { parseKeyring, type Keyring } from './security/vault'
import { DEFAULT_BREAKER, type BreakerConfig } from './routing/breaker'
import { SYNC_INTERVAL_MS } from './routing/health'
import { DEFAULT_RETRY, type RetryPolicy } from './routing/retry'
import type { TenantsFile } from './stores/embedded/tenants-file'
import { TenantsFileSchema } from './stores/embedded/tenants-schema'
import type { SupabaseConfig } from './stores/supabase/key-store'
import type { UpstashConfig } from './stores/upstash/shared-state'
import type { ClickHouseConfig } from './logging/clickhouse'
import { parseLogKeys, type LogKeys } from './logging/seal'
import { PROVIDER_ENV_PREFIXES, type Bindings } from './env'
import type { ProviderConfig, ProviderSpec } from './types'

export type GatewayConfig = {
  readonly devApiKey: string | undefined
  /** The embedded store's tenants, when `FLOOPY_TENANTS` is set. */
  readonly tenants: TenantsFile | undefined
  readonly supabase: SupabaseConfig | undefined
  readonly upstash: UpstashConfig | undefined
  readonly keyring: Keyring | undefined
  readonly ipRpm: number
  readonly storeTimeoutMs: number
  readonly logIpHashKey: string | undefined
  /** `FLOOPY_LOG_KEYS`: what seals and opens the request log's messages (`logging/seal.ts`). */
  readonly logKeys: LogKeys | undefined
  readonly clickhouse: ClickHouseConfig | undefined
  /** Configured providers by id (a provider is configured when it has a key or a base URL). */
  readonly providers: ReadonlyMap<string, ProviderConfig>
  readonly upstreamTimeoutMs: number
  /** Per try, for requests with several targets (never more than `upstreamTimeoutMs`). */
  readonly attemptTimeoutMs: number
  /** For all tries of a request with several targets together. */
  readonly routingDeadlineMs: number
  /** Circuit breaker settings for routing targets (`routing/breaker.ts`). */
  readonly breaker: BreakerConfig
  /** The most often an isolate syncs routing health and feedback posteriors with shared state. */
  readonly syncIntervalMs: number
  /** Retry policy for routing targets (`routing/retry.ts`). */
  readonly retry: RetryPolicy
  readonly maxBodyBytes: number
  readonly accessLog: boolean
  /** The response cache's embedding model as `provider/model`, when configured. */
  readonly embeddingModel: string | undefined
  readonly qdrant: { readonly url: string; readonly apiKey: string | undefined } | undefined
  readonly embeddingTimeoutMs: number
  readonly cacheLookupTimeoutMs: number
  readonly firewall: FirewallConfig
  readonly feedback: FeedbackConfig
}

/** The feedback loop's settings (`docs/feedback.md`). */
export type FeedbackConfig = {
  /**
   * What request references are signed with: `FLOOPY_FEEDBACK_KEY`, else the operator's other
   * secrets together (so every isolate of a deployment agrees), else `undefined` (a key per
   * isolate: development only).
   */
  readonly secret: string | undefined
  /** Feedbacks after which a target's earlier evidence counts half. */
  readonly halfLife: number
  /** Feedbacks a target needs before the strategy stops exploring it uniformly. */
  readonly minSamples: number
  /** Probability of a uniformly random first target once every target is explored. */
  readonly exploration: number
}

/** The LLM firewall's settings (`docs/firewall.md`). */
export type FirewallConfig = {
  /** `FIREWALL_MODEL`, parsed: the safety-model backends and their weights. */
  readonly backends: readonly Backend[]
  /** Whether `FIREWALL_MODEL` was set (a default whose provider is not configured is no error). */
  readonly explicit: boolean
  readonly timeoutMs: number
  /** Cosine similarity at which a stored unsafe verdict blocks a new prompt. */
  readonly cacheThreshold: number
  /** How long a stored unsafe verdict blocks, in seconds. */
  readonly cacheTtlSeconds: number
}

const httpUrl = z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).refine((value) => {
  // zod runs refinements even after the format check failed, so the URL may not parse here.
  const url = URL.canParse(value) ? new URL(value) : undefined
  return (
    url === undefined ||
    (url.username === '' && url.password === '' && url.search === '' && url.hash === '')
  )
}, 'must not carry credentials, a query or a fragment')

const optionalSecret = z.string().trim().min(1, 'must not be empty').optional()

const positiveInt = (fallback: number) =>
  z.coerce.number().int('must be a whole number').positive('must be positive').default(fallback)

const customProvider = z.strictObject({
  id: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]{0,31}$/, 'must be 1-32 lowercase letters, digits or dashes')
    .refine((id) => !BUILTIN_PROVIDER_IDS.includes(id), 'must not reuse a built-in provider id'),
  baseUrl: httpUrl,
  apiKey: z.string().min(1).optional(),
  models: z.array(z.string().min(1)).default([]),
  /** Whether the endpoint honours `stream_options.include_usage` (vLLM and Ollama do). */
  streamOptions: z.boolean().default(true),
})

/** A binding holding JSON, parsed and then checked against `schema`. */
const jsonText = <T extends z.ZodType>(schema: T) =>
  z
    .string()
    .transform((text, ctx) => {
      try {
        return JSON.parse(text) as unknown
      } catch {
        ctx.addIssue({ code: 'custom', message: 'must be valid JSON' })
        return z.NEVER
      }
    })
    .pipe(schema)

const providerFields = Object.fromEntries(
  PROVIDER_ENV_PREFIXES.flatMap((p) => [
    [`${p}_API_KEY`, optionalSecret],
    [`${p}_BASE_URL`, httpUrl.optional()],
  ]),
) as Record<
  `${(typeof PROVIDER_ENV_PREFIXES)[number]}_${'API_KEY' | 'BASE_URL'}`,
  z.ZodOptional<z.ZodType<string>>
>

/** An AWS variable: the Region, a key id, a secret, a token (checked together below). */
const awsValue = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .regex(/^\S+$/, 'must not contain spaces')
  .optional()

const apiKey = z
  .string()
  .trim()
  .refine(
    (key) => parseApiKey(key).ok,
    'must be a gateway key (flo_sk_test_… or flo_sk_live_…); npm run dev generates one',
  )

const keyring = z.string().transform((text, ctx) => {
  try {
    return parseKeyring(text)
  } catch (err) {
    // parseKeyring's messages name the problem and never echo key material.
    ctx.addIssue({ code: 'custom', message: err instanceof Error ? err.message : 'invalid' })
    return z.NEVER
  }
})

const logKeys = z.string().transform((text, ctx) => {
  try {
    return parseLogKeys(text)
  } catch (err) {
    // parseLogKeys's messages name the problem and never echo key material.
    ctx.addIssue({ code: 'custom', message: err instanceof Error ? err.message : 'invalid' })
    return z.NEVER
  }
})

const backends = z.string().transform((text, ctx) => {
  try {
    return parseBackends(text)
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: err instanceof Error ? err.message : 'invalid' })
    return z.NEVER
  }
})

const unitInterval = (fallback: number) =>
  z.coerce.number().gt(0, 'must be above 0').max(1, 'must be at most 1').default(fallback)

const ConfigSchema = z
  .object({
    ...providerFields,
    AWS_REGION: awsValue,
    AWS_ACCESS_KEY_ID: awsValue,
    AWS_SECRET_ACCESS_KEY: awsValue,
    AWS_SESSION_TOKEN: awsValue,
    AWS_BEARER_TOKEN_BEDROCK: awsValue,
    BEDROCK_BASE_URL: httpUrl.optional(),
    FLOOPY_DEV_API_KEY: apiKey.optional(),
    FLOOPY_TENANTS: jsonText(TenantsFileSchema).optional(),
    SUPABASE_URL: httpUrl.optional(),
    SUPABASE_SERVICE_ROLE_KEY: optionalSecret,
    UPSTASH_REDIS_REST_URL: httpUrl.optional(),
    UPSTASH_REDIS_REST_TOKEN: optionalSecret,
    FLOOPY_VAULT_KEKS: keyring.optional(),
    FLOOPY_IP_RPM: positiveInt(20),
    /**
     * `always`: ask for every stream's usage, hiding the usage chunk from a client that did not
     * ask; `asked`: only when the client asks (OpenAI's stream then reaches it unchanged).
     */
    FLOOPY_STREAM_USAGE: z.enum(['always', 'asked']).default('asked'),
    FLOOPY_STORE_TIMEOUT_MS: positiveInt(2_000),
    FLOOPY_LOG_IP_HASH_KEY: z.string().min(16, 'must be at least 16 characters').optional(),
    FLOOPY_LOG_KEYS: logKeys.optional(),
    CLICKHOUSE_URL: httpUrl.optional(),
    CLICKHOUSE_USER: z.string().min(1).default('default'),
    CLICKHOUSE_PASSWORD: z.string().default(''),
    CLICKHOUSE_DATABASE: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, 'must be a plain identifier')
      .default('floopy'),
    FLOOPY_CUSTOM_PROVIDERS: jsonText(z.array(customProvider)).default([]),
    FLOOPY_UPSTREAM_TIMEOUT_MS: positiveInt(600_000),
    FLOOPY_ATTEMPT_TIMEOUT_MS: positiveInt(120_000),
    FLOOPY_ROUTING_DEADLINE_MS: positiveInt(300_000),
    FLOOPY_BREAKER_COOLDOWN_MS: positiveInt(DEFAULT_BREAKER.coolDownMs),
    // At least a second, so each of the window's buckets spans whole milliseconds of traffic.
    FLOOPY_BREAKER_WINDOW_MS: positiveInt(DEFAULT_BREAKER.windowMs).pipe(
      z.number().min(1000, 'must be at least 1000'),
    ),
    FLOOPY_BREAKER_MIN_REQUESTS: positiveInt(DEFAULT_BREAKER.minRequests),
    FLOOPY_BREAKER_FAILURE_RATE: unitInterval(DEFAULT_BREAKER.failureRate),
    FLOOPY_SYNC_INTERVAL_MS: positiveInt(SYNC_INTERVAL_MS).pipe(
      z.number().min(100, 'must be at least 100').max(60_000, 'must be at most 60000'),
    ),
    FLOOPY_TRIES_PER_TARGET: positiveInt(DEFAULT_RETRY.maxAttemptsPerTarget).pipe(
      z.number().max(5, 'must be at most 5'),
    ),
    FLOOPY_MAX_BODY_BYTES: positiveInt(10 * 1024 * 1024),
    FLOOPY_ACCESS_LOG: z.enum(['true', 'false']).default('false'),
    FLOOPY_EMBEDDING_MODEL: z
      .string()
      .trim()
      .regex(/^[a-z0-9][a-z0-9-]*\/\S+$/, 'must be <provider>/<model>')
      .optional(),
    QDRANT_URL: httpUrl.optional(),
    QDRANT_API_KEY: optionalSecret,
    FLOOPY_EMBEDDING_TIMEOUT_MS: positiveInt(2_000),
    FLOOPY_CACHE_LOOKUP_TIMEOUT_MS: positiveInt(1_000),
    FIREWALL_MODEL: backends.optional(),
    FIREWALL_TIMEOUT_MS: positiveInt(3_000),
    FIREWALL_CACHE_THRESHOLD: unitInterval(0.95),
    FIREWALL_CACHE_TTL_SECONDS: positiveInt(30 * 24 * 3600),
    FLOOPY_FEEDBACK_KEY: z.string().min(32, 'must be at least 32 characters').optional(),
    FLOOPY_FEEDBACK_HALF_LIFE: positiveInt(100),
    FLOOPY_FEEDBACK_MIN_SAMPLES: positiveInt(10),
    FLOOPY_FEEDBACK_EXPLORATION: z.coerce
      .number()
      .min(0, 'must be at least 0')
      .max(0.5, 'must be at most 0.5')
      .default(0.03),
  })
  .superRefine((env, ctx) => {
    const pair = (a: keyof typeof env, b: keyof typeof env): void => {
      if ((env[a] === undefined) !== (env[b] === undefined)) {
        const missing = env[a] === undefined ? a : b
        ctx.addIssue({
          code: 'custom',
          path: [missing],
          message: `is required with ${a === missing ? b : a}`,
        })
      }
    }
    pair('SUPABASE_URL', 'SUPABASE_SERVICE_ROLE_KEY')
    pair('UPSTASH_REDIS_REST_URL', 'UPSTASH_REDIS_REST_TOKEN')
    for (const { variable, message } of operatorCredentials(env).issues) {
      ctx.addIssue({ code: 'custom', path: [variable], message })
    }
    if (
      env.SUPABASE_URL === undefined &&
      env.FLOOPY_DEV_API_KEY === undefined &&
      env.FLOOPY_TENANTS === undefined
    ) {
      ctx.addIssue({
        code: 'custom',
        path: ['FLOOPY_DEV_API_KEY'],
        message:
          'is required while no config store is configured (or set FLOOPY_TENANTS or SUPABASE_URL)',
      })
    }
  })

const trimSlash = (url: string): string => url.replace(/\/+$/, '')

/** Secrets every isolate of one deployment shares, in a fixed order, for the reference key. */
const SHARED_SECRETS = [
  'FLOOPY_VAULT_KEKS',
  'SUPABASE_SERVICE_ROLE_KEY',
  'UPSTASH_REDIS_REST_TOKEN',
  'FLOOPY_LOG_IP_HASH_KEY',
  'FLOOPY_DEV_API_KEY',
] as const

/** Without `FLOOPY_FEEDBACK_KEY`: the deployment's other secrets, together (never alone logged). */
const derivedSecret = (bindings: Bindings): string | undefined => {
  const parts = SHARED_SECRETS.map((name) => bindings[name] ?? '')
  return parts.every((part) => part === '') ? undefined : `derived\n${parts.join('\n')}`
}

/** A built-in provider at its configured (or default) base URL. */
export const builtinProvider = (
  spec: ProviderSpec,
  apiKey: string | undefined,
  configuredBase: string | undefined,
): ProviderConfig => {
  const baseUrl = trimSlash(configuredBase ?? spec.defaultBaseUrl)
  return {
    spec,
    baseUrl,
    origin: new URL(baseUrl).origin,
    apiKey,
    operatorConfigured: configuredBase !== undefined,
    models: [],
  }
}

/**
 * Bedrock, when the operator set AWS credentials or `BEDROCK_BASE_URL`: its key is the credential
 * JSON an organisation would store (`providers/bedrock/credentials.ts`), and its host the
 * credential's Region's unless the base URL is configured.
 */
const bedrockProvider = (
  spec: ProviderSpec,
  env: Parameters<typeof operatorCredentials>[0] & {
    readonly BEDROCK_BASE_URL?: string | undefined
  },
): ProviderConfig | undefined => {
  const { credentials } = operatorCredentials(env)
  const configuredBase = env.BEDROCK_BASE_URL
  if (credentials === undefined && configuredBase === undefined) return undefined
  const apiKey = credentials === undefined ? undefined : credentialsText(credentials)
  const provider = builtinProvider(spec, apiKey, configuredBase)
  if (configuredBase !== undefined || credentials === undefined) return provider
  const baseUrl = regionalBaseUrl(credentials.region)
  return { ...provider, baseUrl, origin: new URL(baseUrl).origin }
}

/** Parses bindings into a `GatewayConfig`; throws `GatewayError('CONFIG_INVALID')` naming fields. */
export const parseConfig = (bindings: Bindings): GatewayConfig => {
  const parsed = ConfigSchema.safeParse(bindings)
  if (!parsed.success) {
    const fields = parsed.error.issues.map(
      (issue) => `${issue.path.map(String).join('.')}: ${issue.message}`,
    )
    throw new GatewayError(
      'CONFIG_INVALID',
      `Gateway configuration is invalid: ${fields.join('; ')}`,
    )
  }
  const env = parsed.data
  const providers = new Map<string, ProviderConfig>()
  for (const spec of PROVIDERS) {
    if (spec.family === 'bedrock') {
      const bedrock = bedrockProvider(spec, env)
      if (bedrock !== undefined) providers.set(spec.id, bedrock)
      continue
    }
    const prefix = spec.id.toUpperCase() as (typeof PROVIDER_ENV_PREFIXES)[number]
    const apiKey = env[`${prefix}_API_KEY`]
    const configuredBase = env[`${prefix}_BASE_URL`]
    if (apiKey === undefined && configuredBase === undefined) continue
    providers.set(spec.id, builtinProvider(spec, apiKey, configuredBase))
  }
  for (const custom of env.FLOOPY_CUSTOM_PROVIDERS) {
    const baseUrl = trimSlash(custom.baseUrl)
    providers.set(custom.id, {
      spec: customProviderSpec(custom.id, baseUrl, custom.streamOptions),
      baseUrl,
      origin: new URL(baseUrl).origin,
      apiKey: custom.apiKey,
      operatorConfigured: true,
      models: custom.models,
    })
  }
  if (env.FLOOPY_STREAM_USAGE === 'asked') {
    for (const [id, provider] of providers)
      providers.set(id, { ...provider, captureStreamUsage: false })
  }
  return {
    devApiKey: env.SUPABASE_URL === undefined ? env.FLOOPY_DEV_API_KEY : undefined,
    tenants: env.FLOOPY_TENANTS,
    supabase:
      env.SUPABASE_URL === undefined || env.SUPABASE_SERVICE_ROLE_KEY === undefined
        ? undefined
        : { url: trimSlash(env.SUPABASE_URL), serviceRoleKey: env.SUPABASE_SERVICE_ROLE_KEY },
    upstash:
      env.UPSTASH_REDIS_REST_URL === undefined || env.UPSTASH_REDIS_REST_TOKEN === undefined
        ? undefined
        : { url: trimSlash(env.UPSTASH_REDIS_REST_URL), token: env.UPSTASH_REDIS_REST_TOKEN },
    keyring: env.FLOOPY_VAULT_KEKS,
    ipRpm: env.FLOOPY_IP_RPM,
    storeTimeoutMs: env.FLOOPY_STORE_TIMEOUT_MS,
    logIpHashKey: env.FLOOPY_LOG_IP_HASH_KEY,
    logKeys: env.FLOOPY_LOG_KEYS,
    clickhouse:
      env.CLICKHOUSE_URL === undefined
        ? undefined
        : {
            url: trimSlash(env.CLICKHOUSE_URL),
            username: env.CLICKHOUSE_USER,
            password: env.CLICKHOUSE_PASSWORD,
            database: env.CLICKHOUSE_DATABASE,
          },
    providers,
    upstreamTimeoutMs: env.FLOOPY_UPSTREAM_TIMEOUT_MS,
    attemptTimeoutMs: Math.min(env.FLOOPY_ATTEMPT_TIMEOUT_MS, env.FLOOPY_UPSTREAM_TIMEOUT_MS),
    routingDeadlineMs: env.FLOOPY_ROUTING_DEADLINE_MS,
    breaker: {
      ...DEFAULT_BREAKER,
      windowMs: env.FLOOPY_BREAKER_WINDOW_MS,
      minRequests: env.FLOOPY_BREAKER_MIN_REQUESTS,
      failureRate: env.FLOOPY_BREAKER_FAILURE_RATE,
      coolDownMs: env.FLOOPY_BREAKER_COOLDOWN_MS,
    },
    syncIntervalMs: env.FLOOPY_SYNC_INTERVAL_MS,
    retry: { ...DEFAULT_RETRY, maxAttemptsPerTarget: env.FLOOPY_TRIES_PER_TARGET },
    maxBodyBytes: env.FLOOPY_MAX_BODY_BYTES,
    accessLog: env.FLOOPY_ACCESS_LOG === 'true',
    embeddingModel: env.FLOOPY_EMBEDDING_MODEL,
    qdrant:
      env.QDRANT_URL === undefined
        ? undefined
        : { url: trimSlash(env.QDRANT_URL), apiKey: env.QDRANT_API_KEY },
    embeddingTimeoutMs: env.FLOOPY_EMBEDDING_TIMEOUT_MS,
    cacheLookupTimeoutMs: env.FLOOPY_CACHE_LOOKUP_TIMEOUT_MS,
    feedback: {
      secret: env.FLOOPY_FEEDBACK_KEY ?? derivedSecret(bindings),
      halfLife: env.FLOOPY_FEEDBACK_HALF_LIFE,
      minSamples: env.FLOOPY_FEEDBACK_MIN_SAMPLES,
      exploration: env.FLOOPY_FEEDBACK_EXPLORATION,
    },
    firewall: {
      backends: env.FIREWALL_MODEL ?? parseBackends(DEFAULT_FIREWALL_MODEL),
      explicit: env.FIREWALL_MODEL !== undefined,
      timeoutMs: env.FIREWALL_TIMEOUT_MS,
      cacheThreshold: env.FIREWALL_CACHE_THRESHOLD,
      cacheTtlSeconds: env.FIREWALL_CACHE_TTL_SECONDS,
    },
  }
}

const memo = new WeakMap<object, GatewayConfig | GatewayError>()

/** `parseConfig`, memoised per bindings object (workerd hands the same object to every request). */
export const loadConfig = (bindings: Bindings): GatewayConfig => {
  let entry = memo.get(bindings)
  if (entry === undefined) {
    try {
      entry = parseConfig(bindings)
    } catch (err) {
      if (!(err instanceof GatewayError)) throw err
      entry = err
      console.error(JSON.stringify({ level: 'error', msg: err.message }))
    }
    memo.set(bindings, entry)
  }
  if (entry instanceof GatewayError) throw entry
  return entry
}
