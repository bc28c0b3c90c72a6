/**
 * @module `npm run bench:routing`: what routing costs a request. The production bundle under
 * workerd serves four keys of one organisation against the benchmark's local upstream:
 *
 * - `none`: no routing rule (one target from the model name);
 * - `fallback-1`: a fallback rule with one target (the rule lookup and ordering);
 * - `weighted-3`: a weighted rule over three targets (a weighted draw);
 * - `latency-3`: a latency rule over three targets (two choices on the shared EWMA's memo);
 * - `fallback-hop`: a fallback rule whose first target answers 503 to 1 of every 3 requests
 *   (`bench-flaky`), so a third of its requests are served by the second target after a failed try —
 *   a fallback hop — while the circuit stays closed;
 * - `open-circuit`: a fallback rule whose first target is always down (`bench-down`); its circuit
 *   opens during the warm-up, and from then on the target is skipped (one probe per cool-down).
 *
 * The gateway runs with `FLOOPY_TRIES_PER_TARGET=1`, so a failed try moves to the next target at
 * once: with the default of two tries, a hop adds by design a jittered backoff of 0–200 ms (mean
 * 100 ms) before the second try of the same target, which would drown the gateway's own cost.
 *
 * Requests go one at a time on a keep-alive connection, the variants interleaved request by request
 * so a slow moment hits all of them; rows split each variant by how many tries its requests took
 * (`floopy-attempts`), and give p50, p99 and p50 minus the no-rule p50; a last row times the
 * upstream alone (no gateway), the scale of one provider round trip. The request log is off (no
 * Queue binding), to isolate routing.
 *
 * Every request must succeed (after its fallback hop, where there is one): a non-200 answer, a
 * network error or no answer within 10 s stops the run with exit code 1 and names the variant.
 */
import { Agent, request } from 'node:http'
import { buildBundle, startGateway } from '../scripts/workerd.ts'
import { generateApiKey, hashApiKey, parseApiKey } from '../src/security/api-key.ts'
import { startUpstream } from './upstream.ts'

const REQUESTS = Number(process.env.BENCH_ROUTING_REQUESTS ?? 3000)
const WARMUP = 300
const TIMEOUT_MS = 10_000
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
    name: 'fallback-hop',
    key: generateApiKey('live'),
    rule: {
      strategy: 'fallback',
      targets: ['bench-flaky', 'gpt-4o-mini'].map((model) => ({ provider: 'openai', model })),
    },
  },
  {
    name: 'open-circuit',
    key: generateApiKey('live'),
    rule: {
      strategy: 'fallback',
      targets: ['bench-down', 'gpt-4o-mini'].map((model) => ({ provider: 'openai', model })),
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

type Sample = { ms: number; attempts: string }

/** One request; rejects, naming `label`, unless it is answered 200 in full. */
const once = (label: string, url: string, key: string): Promise<Sample> =>
  new Promise((resolve, reject) => {
    const body = JSON.stringify({
      model: 'openai/gpt-4o-mini',
      messages: [{ role: 'user', content: 'Hello' }],
    })
    const failed = (why: string): void => {
      reject(new Error(`${label}: ${why}`))
    }
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
        const chunks: Buffer[] = []
        res.on('data', (chunk: Buffer) => {
          if (res.statusCode !== 200) chunks.push(chunk)
        })
        res.once('error', (error) => {
          failed(`the answer broke off: ${error.message}`)
        })
        res.once('end', () => {
          const attempts = String(res.headers['floopy-attempts'] ?? '—')
          if (res.statusCode === 200) resolve({ ms: performance.now() - started, attempts })
          else {
            const text = Buffer.concat(chunks).toString().slice(0, 300)
            failed(`status ${String(res.statusCode)} ${text}`)
          }
        })
      },
    )
    req.setTimeout(TIMEOUT_MS, () => {
      req.destroy(new Error(`no answer within ${String(TIMEOUT_MS)} ms`))
    })
    req.once('error', (error) => {
      failed(error.message)
    })
    req.end(body)
  })

/** The row for requests sent straight to the upstream, bypassing the gateway. */
const DIRECT = 'upstream alone'

const percentile = (sorted: number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN

const upstream = await startUpstream()
const gateway = await startGateway({
  bundle: await buildBundle('.bench/dist'),
  bindings: {
    OPENAI_BASE_URL: `${upstream.url}/v1`,
    OPENAI_API_KEY: 'sk-bench',
    FLOOPY_TENANTS: await tenants(),
    FLOOPY_TRIES_PER_TARGET: '1',
  },
})
try {
  // Samples by variant and tries taken, e.g. `fallback-hop` → `1` → [ms, …].
  const times = new Map<string, Map<string, number[]>>()
  const add = (name: string, { ms, attempts }: Sample): void => {
    const byAttempts = times.get(name) ?? new Map<string, number[]>()
    times.set(name, byAttempts)
    const list = byAttempts.get(attempts) ?? []
    byAttempts.set(attempts, list)
    list.push(ms)
  }
  for (let i = 0; i < WARMUP + REQUESTS; i++) {
    for (const v of variants) {
      const sample = await once(`${v.name}, request ${String(i + 1)}`, gateway.url, v.key)
      if (i >= WARMUP) add(v.name, sample)
    }
    // The upstream alone, for scale: what one provider round trip costs here.
    const direct = await once(`${DIRECT}, request ${String(i + 1)}`, upstream.url, 'sk-bench')
    if (i >= WARMUP) add(DIRECT, direct)
  }
  const rows = [...variants.map((v) => v.name), DIRECT].flatMap((name) =>
    [...(times.get(name) ?? new Map<string, number[]>())]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([attempts, list]) => {
        const sorted = list.sort((a, b) => a - b)
        return {
          name,
          attempts,
          n: sorted.length,
          p50: percentile(sorted, 50),
          p99: percentile(sorted, 99),
        }
      }),
  )
  const base = rows.find((row) => row.name === 'none')?.p50 ?? Number.NaN
  console.log(
    `routing, ${String(REQUESTS)} requests per variant, interleaved, 1 connection, 1 try per target:`,
  )
  console.log('| rule | tries | requests | p50 | p99 | p50 − no rule |')
  console.log('|---|---|---|---|---|---|')
  for (const row of rows) {
    const delta = row.p50 - base
    console.log(
      `| ${row.name} | ${row.attempts} | ${String(row.n)} | ${row.p50.toFixed(3)} ms | ${row.p99.toFixed(3)} ms | ${(delta >= 0 ? '+' : '') + delta.toFixed(3)} ms |`,
    )
  }
} catch (error) {
  console.error(
    `bench:routing FAILED, no figures: ${error instanceof Error ? error.message : String(error)}`,
  )
  process.exitCode = 1
} finally {
  agent.destroy()
  await gateway.close()
  await upstream.close()
}
