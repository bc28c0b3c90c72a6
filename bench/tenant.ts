/**
 * @module The benchmarks' tenant: one organisation and one live key with per-minute limits (the
 * organisation's and the key's) and a monthly quota far above what a run sends, and a routing rule
 * on the key, so every request runs the whole production path — key memo, subscription, both
 * sliding windows, the month's counter, the rate-limit headers, the rule's target walk — without
 * being refused. The embedded store keeps that state in isolate memory; with Upstash it is one
 * pipeline request. Shared by `bench/run.ts` and `bench/profile.ts`, so the profile looks at what
 * the bench measures.
 */
import { generateApiKey, hashApiKey, parseApiKey } from '../src/security/api-key.ts'

export type BenchTenant = {
  /** The key requests carry (`Authorization: Bearer …`). */
  key: string
  /** The `FLOOPY_TENANTS` document serving it. */
  tenants: string
}

/**
 * The bindings every bench gives the gateway and the reference proxy alike: the fake provider at
 * `upstreamUrl`, the bench's tenants, the request log's keys (the log's raw facts sealed for the
 * consumer, as in production) and `key`, which the reference proxy checks.
 */
export const benchBindings = (options: {
  upstreamUrl: string
  tenants: string
  key: string
  logKeys: string
}): Record<string, string> => ({
  OPENAI_BASE_URL: `${options.upstreamUrl}/v1`,
  OPENAI_API_KEY: 'sk-bench',
  FLOOPY_TENANTS: options.tenants,
  FLOOPY_LOG_KEYS: options.logKeys,
  BENCH_KEY: options.key,
})

/** The rule on the key: a fallback over the model the requests name, as a production key has. */
export const BENCH_RULE_TARGETS = [{ provider: 'openai', model: 'gpt-4o-mini' }]

/**
 * `rule: false`: the same tenant without its routing rule (the requested model goes as asked);
 * `key`: serve this key rather than a new one (two tenants, one key: `bench/ab.ts`).
 */
export async function benchTenant({
  rule = true,
  key = generateApiKey('live'),
}: { rule?: boolean; key?: string } = {}): Promise<BenchTenant> {
  const now = new Date().toISOString()
  const parsed = parseApiKey(key)
  if (!parsed.ok) throw new Error('the generated bench key does not parse')
  const tenants = JSON.stringify({
    version: 1,
    organizations: [
      {
        id: 'org_bench',
        slug: 'bench',
        name: 'Bench',
        plan: 'bench',
        subscription_status: 'active',
        monthly_request_limit: 1_000_000_000,
        rpm_limit: 100_000_000,
        features: {},
        created_at: now,
        updated_at: now,
      },
    ],
    api_keys: [
      {
        id: 'key_bench',
        org_id: 'org_bench',
        name: 'bench',
        key_hash: await hashApiKey(key),
        display_prefix: parsed.displayPrefix,
        last4: parsed.last4,
        mode: 'live',
        rpm_limit: 100_000_000,
        created_at: now,
        revoked_at: null,
      },
    ],
    provider_keys: [],
    routing_rules: !rule
      ? []
      : [
          {
            id: 'rule_bench',
            org_id: 'org_bench',
            api_key_id: 'key_bench',
            model: null,
            strategy: 'fallback',
            targets: BENCH_RULE_TARGETS,
            created_at: now,
            updated_at: now,
          },
        ],
  })
  return { key, tenants }
}
