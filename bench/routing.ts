/**
 * @module `npm run bench:routing`: what routing costs a request. The production bundle under
 * workerd serves six keys of one organisation against the benchmark's local upstream:
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
 * so a slow moment hits all of them (`bench/interleaved.ts`); rows split each variant by how many
 * tries its requests took (`floopy-attempts`), and give p50, p99 and p50 minus the no-rule p50; a
 * last row times the upstream alone (no gateway), the scale of one provider round trip. The request
 * log is off (no Queue binding), to isolate routing.
 *
 * Every request must succeed (after its fallback hop, where there is one): a non-200 answer, a
 * network error or no answer within 10 s stops the run with exit code 1 and names the variant.
 */
import type { RoutingRuleRow } from '../src/stores/embedded/tenants-file.ts'
import {
  DIRECT,
  latencyTable,
  runInterleaved,
  summarize,
  type Row,
  type Sample,
  type Variant,
} from './interleaved.ts'

const REQUESTS = Number(process.env.BENCH_ROUTING_REQUESTS ?? 3000)
const WARMUP = 300

/** A variant whose key has a routing rule of its own. */
const ruled = (
  name: string,
  strategy: RoutingRuleRow['strategy'],
  targets: RoutingRuleRow['targets'],
): Variant => ({
  name,
  tenant: ({ orgId, keyId, now }) => ({
    routing_rules: [
      {
        id: `rule_${name}`,
        org_id: orgId,
        api_key_id: keyId,
        model: null,
        strategy,
        targets,
        created_at: now,
        updated_at: now,
      },
    ],
  }),
})

const variants: Variant[] = [
  { name: 'none' },
  ruled('fallback-1', 'fallback', [{ provider: 'openai', model: 'gpt-4o-mini' }]),
  ruled(
    'weighted-3',
    'weighted',
    ['gpt-4o-mini', 'gpt-4o', 'gpt-4.1-mini'].map((model, i) => ({
      provider: 'openai',
      model,
      weight: i + 1,
    })),
  ),
  ruled(
    'fallback-hop',
    'fallback',
    ['bench-flaky', 'gpt-4o-mini'].map((model) => ({ provider: 'openai', model })),
  ),
  ruled(
    'open-circuit',
    'fallback',
    ['bench-down', 'gpt-4o-mini'].map((model) => ({ provider: 'openai', model })),
  ),
  ruled(
    'latency-3',
    'latency',
    ['gpt-4o-mini', 'gpt-4o', 'gpt-4.1-mini'].map((model) => ({ provider: 'openai', model })),
  ),
]

/** A variant's rows, one per number of tries its requests took, fewest first. */
const byTries = (name: string, samples: readonly Sample[]): Row[] => {
  const groups = new Map<string, Sample[]>()
  for (const sample of samples) {
    const attempts = String(sample.headers['floopy-attempts'] ?? '—')
    const group = groups.get(attempts) ?? []
    groups.set(attempts, group)
    group.push(sample)
  }
  return [...groups]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([attempts, list]) => ({ cells: [name, attempts], ...summarize(list) }))
}

await runInterleaved({
  title: 'bench:routing',
  variants,
  requests: REQUESTS,
  warmup: WARMUP,
  bindings: { FLOOPY_TRIES_PER_TARGET: '1' },
  report: (samples) => {
    const rows = [...variants.map((v) => v.name), DIRECT].flatMap((name) =>
      byTries(name, samples.get(name) ?? []),
    )
    const base = rows.find((row) => row.cells[0] === 'none')?.p50 ?? Number.NaN
    console.log(
      `routing, ${String(REQUESTS)} requests per variant, interleaved, 1 connection, 1 try per target:`,
    )
    console.log(latencyTable(['rule', 'tries'], 'no rule', rows, base))
  },
})
