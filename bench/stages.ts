/**
 * @module `npm run bench:stages`: what each optional pipeline stage costs a request, measured as
 * `bench/routing.ts` measures routing (`bench/interleaved.ts`): the production bundle under
 * workerd, one key per variant of one organisation, the benchmark's local upstream, requests one at
 * a time on a keep-alive connection with the variants interleaved request by request; p50, p99
 * and p50 minus `none`, and a last row for the upstream alone (the scale of one provider round
 * trip). The request log is off.
 *
 * - `none`: a tenant key, no stage options — a chat completion carrying the very messages and
 *   model the template below renders to, so both variants send the upstream the same request;
 * - `prompt`: `floopy-prompt-id: bench.greeting` and a body of `inputs` only; the gateway resolves
 *   the template from the tenants file (a system message with two variables, a user message, a
 *   model) and renders it. The resolver's memo makes that a lookup with no I/O after the first
 *   request, which is what the budget covers: a memoised template adds ≤ 0.05 ms p50.
 *
 * - `cache miss`: `floopy-cache-enabled: true` and `none`'s request with a user message that differs
 *   every round, so every request misses: the exact lookup, the provider call, and storing the
 *   answer after it — and, since this gateway runs the embedded stores, the dev mode's similarity
 *   tiers too (the local embedder, and a brute-force search of the isolate's vectors: every
 *   request of the run shares one scope, so each miss compares its vector with every answer
 *   stored before it, up to 5,000). That search grows with the run and is not production's cost
 *   (there, without `FLOOPY_EMBEDDING_MODEL`, only the exact tier runs; with it, Qdrant searches);
 *   read the row as the dev mode's upper bound;
 * - `cache hit`: `floopy-cache-enabled: true` and `none`'s very request, answered from the exact
 *   tier after the first round with no provider call. `none` itself is the cache turned off.
 *
 * - `firewall`: `floopy-llm-security-enabled: true` (the organisation has `has_advanced_firewall`)
 *   and `none`'s request: the safety model (`FIREWALL_MODEL=[openai](bench-guard)`, answered
 *   `safe` by the upstream) is one more upstream round trip, which is what the row shows; with no
 *   embedding model there is no verdict cache. `none` is the same organisation without the header.
 *
 * Before the first round the `cache hit` request is sent until its answer is stored, and the gateway's own render (`POST /v1/prompts/bench.greeting/render`) must
 * equal `none`'s body, and every `prompt` answer must name the version that served it, so the
 * variant cannot silently measure a request the stage passed over.
 *
 * A new variant (cache hit or miss, firewall, …) is one more entry in `variants`: its name, the
 * headers and body of its requests, the tenants-file rows it needs and a check of its answers.
 */
import type { IncomingHttpHeaders } from 'node:http'
import { isDeepStrictEqual } from 'node:util'
import type { PromptTemplate } from '../src/prompts/template.ts'
import { DIRECT, latencyTable, runInterleaved, summarize, type Variant } from './interleaved.ts'

const REQUESTS = Number(process.env.BENCH_STAGES_REQUESTS ?? 3000)
const WARMUP = 300

const PROMPT_ID = 'bench.greeting'

const TEMPLATE: PromptTemplate = {
  messages: [
    { role: 'system', content: 'You answer questions about {{product}} for {{customer}}.' },
    { role: 'user', content: 'Hello' },
  ],
  model: 'openai/gpt-4o-mini',
}

const INPUTS = { product: 'the Floopy gateway', customer: 'Ada' }

/** What `TEMPLATE` renders to with `INPUTS` (checked against the gateway before the run). */
const RENDERED = {
  model: 'openai/gpt-4o-mini',
  messages: [
    { role: 'system', content: 'You answer questions about the Floopy gateway for Ada.' },
    { role: 'user', content: 'Hello' },
  ],
}

const cacheIs =
  (want: string) =>
  (headers: IncomingHttpHeaders): string | undefined =>
    headers['floopy-cache'] === want
      ? undefined
      : `floopy-cache ${String(headers['floopy-cache'])}, not ${want}`

const variants: Variant[] = [
  { name: 'none', body: RENDERED },
  {
    name: 'cache miss',
    headers: { 'floopy-cache-enabled': 'true' },
    body: (round: number) => ({
      ...RENDERED,
      messages: [RENDERED.messages[0], { role: 'user', content: `Hello, round ${String(round)}` }],
    }),
    check: cacheIs('MISS'),
  },
  {
    name: 'cache hit',
    headers: { 'floopy-cache-enabled': 'true' },
    body: RENDERED,
    // Stored before the first round (`prepare`), so every request of the run must hit.
    check: cacheIs('HIT'),
  },
  {
    name: 'firewall',
    headers: { 'floopy-llm-security-enabled': 'true' },
    body: RENDERED,
    check: (headers) =>
      headers['floopy-firewall'] === 'SAFE'
        ? undefined
        : `floopy-firewall ${String(headers['floopy-firewall'])}, not SAFE`,
  },
  {
    name: 'prompt',
    headers: { 'floopy-prompt-id': PROMPT_ID },
    body: { inputs: INPUTS },
    tenant: ({ orgId, now }) => ({
      prompts: [
        {
          id: 'prompt_bench_greeting',
          org_id: orgId,
          prompt_id: PROMPT_ID,
          labels: { production: 1 },
          created_at: now,
          updated_at: now,
        },
      ],
      prompt_versions: [
        { prompt: 'prompt_bench_greeting', version: 1, template: TEMPLATE, created_at: now },
      ],
    }),
    check: (headers) =>
      headers['floopy-prompt-id'] === PROMPT_ID && headers['floopy-prompt-version'] === '1'
        ? undefined
        : `not served by ${PROMPT_ID} version 1 (floopy-prompt-id ${String(headers['floopy-prompt-id'])}, floopy-prompt-version ${String(headers['floopy-prompt-version'])})`,
  },
]

await runInterleaved({
  title: 'bench:stages',
  variants,
  requests: REQUESTS,
  warmup: WARMUP,
  features: { has_advanced_firewall: true },
  bindings: { FIREWALL_MODEL: '[openai](bench-guard)' },
  prepare: async ({ gateway, keyOf }) => {
    const res = await fetch(`${gateway.url}/v1/prompts/${PROMPT_ID}/render`, {
      method: 'POST',
      headers: { authorization: `Bearer ${keyOf('prompt')}`, 'content-type': 'application/json' },
      body: JSON.stringify({ inputs: INPUTS }),
    })
    const text = await res.text()
    if (res.status !== 200) throw new Error(`prompt render: status ${String(res.status)} ${text}`)
    const { model, messages } = JSON.parse(text) as { model: unknown; messages: unknown }
    if (!isDeepStrictEqual({ model, messages }, RENDERED)) {
      throw new Error(`prompt render: the template renders to ${text}, not to none's body`)
    }
    // The cache stores an answer after sending it: ask until the stored answer serves.
    let cache = ''
    for (let tries = 0; tries < 20 && cache !== 'HIT'; tries++) {
      const asked = await fetch(`${gateway.url}/v1/chat/completions`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${keyOf('cache hit')}`,
          'content-type': 'application/json',
          'floopy-cache-enabled': 'true',
        },
        body: JSON.stringify(RENDERED),
      })
      await asked.text()
      if (asked.status !== 200) throw new Error(`cache hit: status ${String(asked.status)}`)
      cache = asked.headers.get('floopy-cache') ?? 'no floopy-cache header'
    }
    if (cache !== 'HIT') throw new Error(`cache hit: the stored answer never served (${cache})`)
  },
  report: (samples) => {
    const rows = [...variants.map((v) => v.name), DIRECT].map((name) => ({
      cells: [name],
      ...summarize(samples.get(name) ?? []),
    }))
    const base = rows.find((row) => row.cells[0] === 'none')?.p50 ?? Number.NaN
    console.log(`stages, ${String(REQUESTS)} requests per variant, interleaved, 1 connection:`)
    console.log(latencyTable(['stage'], 'none', rows, base))
  },
})
