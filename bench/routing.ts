/**
 * @module `npm run bench:routing`: what routing costs a request. The production bundle under
 * workerd serves four keys of one organisation against the benchmark's local upstream:
 *
 * - `none`: no routing rule (one target from the model name);
 * - `fallback-1`: a fallback rule with one target (the rule lookup and ordering);
 * - `weighted-3`: a weighted rule over three targets (a weighted draw);
 * - `latency-3`: a latency rule over three targets (two choices on the per-isolate EWMA).
 *
 * Requests go one at a time on a keep-alive connection, the variants interleaved request by request
 * so a slow moment hits all of them; the table gives p50 and p99 and each variant's p50 minus the
 * no-rule p50. The request log is off (no Queue binding), to isolate routing. A fallback hop's own
 * cost is dominated by design by its retry backoff (0–200 ms, jittered) and is not measured here.
 */
import { Agent, request } from 'node:http'
import { buildBundle, startGateway } from '../scripts/workerd.ts'
import { generateApiKey, hashApiKey, parseApiKey } from '../src/security/api-key.ts'
import { startUpstream } from './upstream.ts'

const REQUESTS = Number(process.env.BENCH_ROUTING_REQUESTS ?? 3000)
const WARMUP = 300
const NOW = new Date().toISOString()

type Variant = { name: string; key: string; rule?: { strategy: string; targets: object[] } }

const variants: Variant[] = [
  { name: 'none', key: generateApiKey('live') },
  {
    name: 'fallback-1',
    key: generateApiKey('live'),
    rule: { strategy: 'fallback', targets: [{ provider: 'openai', model: 'gpt-4o-mini' }] },
  },
  {
    name: 'weighted-3',
    key: generateApiKey('live'),
    rule: {
      strategy: 'weighted',
      targets: ['gpt-4o-mini', 'gpt-4o', 'gpt-4.1-mini'].map((model, i) => ({
        provider: 'openai',
        model,
        weight: i + 1,
      })),
    },
  },
  {
    name: 'latency-3',
    key: generateApiKey('live'),
    rule: {
      strategy: 'latency',
      targets: ['gpt-4o-mini', 'gpt-4o', 'gpt-4.1-mini'].map((model) => ({
        provider: 'openai',
        model,
      })),
    },
  },
]

const tenants = async (): Promise<string> => {
  const keys = await Promise.all(
    variants.map(async (v) => {
      const parsed = parseApiKey(v.key)
      if (!parsed.ok) throw new Error('bad bench key')
      return {
        id: `key_${v.name}`,
        org_id: 'org_bench',
        name: v.name,
        key_hash: await hashApiKey(v.key),
        display_prefix: parsed.displayPrefix,
        last4: parsed.last4,
        mode: 'live',
        rpm_limit: null,
        created_at: NOW,
        revoked_at: null,
      }
    }),
  )
  return JSON.stringify({
    version: 1,
    organizations: [
      {
        id: 'org_bench',
        slug: 'bench',
        name: 'Bench',
        plan: 'bench',
        subscription_status: 'active',
        monthly_request_limit: null,
        rpm_limit: null,
        features: {},
        created_at: NOW,
        updated_at: NOW,
      },
    ],
    api_keys: keys,
    provider_keys: [],
    routing_rules: variants.flatMap((v) =>
      v.rule === undefined
        ? []
        : [
            {
              id: `rule_${v.name}`,
              org_id: 'org_bench',
              api_key_id: `key_${v.name}`,
              model: null,
              created_at: NOW,
              updated_at: NOW,
              ...v.rule,
            },
          ],
    ),
  })
}

const agent = new Agent({ keepAlive: true, maxSockets: 1 })

const once = (url: string, key: string): Promise<number> =>
  new Promise((resolve, reject) => {
    const body = JSON.stringify({
      model: 'openai/gpt-4o-mini',
      messages: [{ role: 'user', content: 'Hello' }],
    })
    const started = performance.now()
    const req = request(
      `${url}/v1/chat/completions`,
      {
        method: 'POST',
        agent,
        headers: {
          authorization: `Bearer ${key}`,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
        },
      },
      (res) => {
        res.resume()
        res.on('end', () => {
          if (res.statusCode === 200) resolve(performance.now() - started)
          else reject(new Error(`status ${String(res.statusCode)}`))
        })
      },
    )
    req.on('error', reject)
    req.end(body)
  })

const percentile = (sorted: number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN

const upstream = await startUpstream()
const gateway = await startGateway({
  bundle: await buildBundle('.bench/dist'),
  bindings: {
    OPENAI_BASE_URL: `${upstream.url}/v1`,
    OPENAI_API_KEY: 'sk-bench',
    FLOOPY_TENANTS: await tenants(),
  },
})
try {
  const times = new Map(variants.map((v) => [v.name, [] as number[]]))
  for (let i = 0; i < WARMUP + REQUESTS; i++) {
    for (const v of variants) {
      const ms = await once(gateway.url, v.key)
      if (i >= WARMUP) times.get(v.name)?.push(ms)
    }
  }
  const rows = variants.map((v) => {
    const sorted = (times.get(v.name) ?? []).sort((a, b) => a - b)
    return { name: v.name, p50: percentile(sorted, 50), p99: percentile(sorted, 99) }
  })
  const base = rows[0]?.p50 ?? Number.NaN
  console.log(
    `routing decision, ${String(REQUESTS)} requests per variant, interleaved, 1 connection:`,
  )
  console.log('| rule | p50 | p99 | p50 − no rule |')
  console.log('|---|---|---|---|')
  for (const row of rows) {
    console.log(
      `| ${row.name} | ${row.p50.toFixed(3)} ms | ${row.p99.toFixed(3)} ms | ${(row.p50 - base >= 0 ? '+' : '') + (row.p50 - base).toFixed(3)} ms |`,
    )
  }
} finally {
  agent.destroy()
  await gateway.close()
  await upstream.close()
}
