/**
 * @module `npm run bench:feedback`: does the `feedback` strategy learn which target serves best,
 * and notice when that changes? A simulation through the production bundle under plain workerd.
 *
 * Three OpenAI-compatible targets (`sim/sim-a`, `sim/sim-b`, `sim/sim-c`, one custom provider
 * served by a small local server in this process) each have a hidden quality — the probability
 * that a feedback on one of their answers is positive: 0.8, 0.7 and 0.6 (the best leads by ten
 * points) — and a latency (8, 5 and 3 ms; the rule's cost and latency weights are 0, so neither
 * price nor latency counts). The client sends a chat completion, reads which target served it
 * (`floopy-provider`/`floopy-model`), draws a boolean feedback from that target's quality and
 * posts it to `/v1/feedback` with the returned `x-request-id`. The draws come from one seeded
 * PRNG, the same sequence in every run (request i's draw is the same uniform number whichever
 * target served it): the runs differ only by where they send requests.
 *
 * Runs, each through a fresh gateway with the embedded stores (statistics in isolate memory):
 * - `feedback`: a rule with the `feedback` strategy over the three targets;
 * - `round-robin`: a rule rotating over them;
 * - `fixed best`: no rule, every request for `sim/sim-a`, the best target (the regret floor);
 * - `recovery` (scenario 2): the `feedback` rule again, but after 1,000 requests (half the run when
 *   it is shorter than 2,000) the best target's quality drops to 0.5, below the second's 0.7.
 *
 * Each isolate refreshes its memo of a rule's statistics at most once a second, on a request: the
 * order a request gets is learned from the feedback of up to a second before. The learning runs
 * are paced (`BENCH_FEEDBACK_RATE` requests per second, default 50; 0 sends as fast as it can), so
 * a refresh lands about every `rate` requests whatever the machine: at 50/s, every ~50 requests.
 * The non-learning runs are not paced (pacing changes nothing for them).
 *
 * Figures: cumulative regret (the sum over requests of the best quality minus the serving
 * target's quality, both the hidden truth, not the draws), the share of traffic on the best
 * target in the 200 requests before request 500 and before the last, and in scenario 2 how many
 * feedbacks after the drop it takes until the old best's share over the last 100 requests falls
 * below 50 %. Goals, printed PASS or FAIL (a missed goal does not change the exit code):
 * - ≥ 90 % of the traffic on the best target after 1,000 feedbacks (the requests after the
 *   1,000th), with its ten-point lead;
 * - sub-linear regret: less regret in the run's second half than in its first;
 * - recovery within 300 feedbacks.
 *
 * Every chat request must answer 200 with a target of the run, every feedback 202: anything else
 * (or no answer within 10 s) stops the bench with exit code 1 and no figures. On success it writes
 * `bench/feedback-regret.svg` (cumulative regret against requests, the three runs) and the section
 * between `<!-- bench:feedback begin -->` and `<!-- bench:feedback end -->` in `bench/REPORT.md`.
 *
 * Environment: `BENCH_FEEDBACK_REQUESTS` (default 2,000), `BENCH_FEEDBACK_RATE` (default 50),
 * `BENCH_FEEDBACK_SEED` (default 1).
 */
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { readFile, writeFile } from 'node:fs/promises'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { format, resolveConfig } from 'prettier'
import { buildBundle, startGateway } from '../scripts/workerd.ts'
import { generateApiKey } from '../src/security/api-key.ts'
import type { RoutingRuleRow } from '../src/stores/embedded/tenants-file.ts'
import { tenantsFile, type Variant } from './interleaved.ts'

const benchDir = path.dirname(fileURLToPath(import.meta.url))
const TITLE = 'bench:feedback'

const intFromEnv = (name: string, fallback: number, min: number): number => {
  const text = process.env[name]
  const value = text === undefined || text === '' ? fallback : Number(text)
  if (!Number.isInteger(value) || value < min) {
    throw new Error(`${name} must be a whole number of at least ${String(min)}`)
  }
  return value
}

const REQUESTS = intFromEnv('BENCH_FEEDBACK_REQUESTS', 2_000, 10)
const RATE = intFromEnv('BENCH_FEEDBACK_RATE', 50, 0)
const SEED = intFromEnv('BENCH_FEEDBACK_SEED', 1, 0)
const TIMEOUT_MS = 10_000
const PROVIDER = 'sim'

type SimTarget = { readonly model: string; readonly quality: number; readonly latencyMs: number }

/** The targets, best first. */
const TARGETS: readonly SimTarget[] = [
  { model: 'sim-a', quality: 0.8, latencyMs: 8 },
  { model: 'sim-b', quality: 0.7, latencyMs: 5 },
  { model: 'sim-c', quality: 0.6, latencyMs: 3 },
]
const BEST = 0

/** Scenario 2: after this many requests the best target's quality drops to `DROPPED`. */
const DROP_AT = Math.min(1_000, Math.floor(REQUESTS / 2))
const DROPPED = 0.5
/** The recovery's sliding window, in requests, and the share the old best must fall below. */
const WINDOW = 100
const RECOVERED_BELOW = 0.5
/** The share of traffic is measured over this many requests before a point. */
const SHARE_SPAN = 200
/** The goals. */
const GOAL_FEEDBACKS = 1_000
const GOAL_SHARE = 0.9
const GOAL_RECOVERY = 300

/** mulberry32: a small seeded PRNG, uniform on [0, 1). */
const seeded = (seed: number): (() => number) => {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}

// ---------------------------------------------------------------------------------------------
// The fake upstream: OpenAI-compatible chat completions for the three models, after their latency.

type Upstream = { url: string; close(): Promise<void> }

const readBody = async (req: IncomingMessage): Promise<string> => {
  const chunks: Buffer[] = []
  for await (const chunk of req) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString()
}

const sendJson = (res: ServerResponse, status: number, body: unknown): void => {
  const text = JSON.stringify(body)
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  })
  res.end(text)
}

const answer = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
  const text = await readBody(req)
  if (req.method !== 'POST' || req.url !== '/v1/chat/completions') {
    sendJson(res, 404, { error: { message: `no ${String(req.method)} ${String(req.url)}` } })
    return
  }
  let model: unknown
  try {
    model = (JSON.parse(text) as { model?: unknown }).model
  } catch {
    model = undefined
  }
  const target = TARGETS.find((t) => t.model === model)
  if (target === undefined) {
    sendJson(res, 404, { error: { message: `unknown model ${JSON.stringify(model)}` } })
    return
  }
  await new Promise((resolve) => setTimeout(resolve, target.latencyMs))
  sendJson(res, 200, {
    id: `chatcmpl-${target.model}`,
    object: 'chat.completion',
    created: 1_700_000_000,
    model: target.model,
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: `An answer from ${target.model}.`, refusal: null },
        logprobs: null,
        finish_reason: 'stop',
      },
    ],
    usage: { prompt_tokens: 12, completion_tokens: 8, total_tokens: 20 },
  })
}

const startSimUpstream = async (): Promise<Upstream> => {
  const server = createServer((req, res) => {
    answer(req, res).catch((error: unknown) => {
      res.destroy(error instanceof Error ? error : new Error(String(error)))
    })
  })
  server.keepAliveTimeout = 60_000
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('no upstream port')
  return {
    url: `http://127.0.0.1:${String(address.port)}`,
    close: async () => {
      server.closeAllConnections()
      server.close()
      await once(server, 'close')
    },
  }
}

// ---------------------------------------------------------------------------------------------
// One run: a fresh gateway, `REQUESTS` chat requests, each followed by its feedback.

type RunSpec = {
  readonly name: string
  /** The routing rule of the run's key; none: the request's model alone. */
  readonly strategy?: RoutingRuleRow['strategy']
  /** The model requested. */
  readonly model: string
  readonly paced: boolean
  /** The hidden quality of target `t` for request `i` (0-based). */
  readonly quality: (t: number, i: number) => number
}

type RunResult = {
  readonly spec: RunSpec
  /** The index of the target that served each request. */
  readonly served: readonly number[]
  /** Cumulative regret after each request (`regret[i]`: after request i + 1). */
  readonly regret: readonly number[]
  /** Requests per second achieved. */
  readonly rate: number
}

const constant = (t: number): number => TARGETS[t]?.quality ?? Number.NaN
const dropped = (t: number, i: number): number =>
  t === BEST && i >= DROP_AT ? DROPPED : constant(t)

type Answer = { status: number; headers: Headers; text: string }

const post = async (url: string, key: string, body: unknown): Promise<Answer> => {
  const res = await fetch(url, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(TIMEOUT_MS),
  })
  return { status: res.status, headers: res.headers, text: await res.text() }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

const runOnce = async (
  spec: RunSpec,
  bundle: string,
  upstream: Upstream,
  draws: readonly number[],
): Promise<RunResult> => {
  const key = generateApiKey('live')
  const { strategy } = spec
  const variant: Variant =
    strategy === undefined
      ? { name: 'sim' }
      : {
          name: 'sim',
          tenant: ({ orgId, keyId, now }) => ({
            routing_rules: [
              {
                id: `rule_${strategy}`,
                org_id: orgId,
                api_key_id: keyId,
                model: null,
                strategy,
                targets: TARGETS.map((t) => ({ provider: PROVIDER, model: t.model })),
                params: { cost_weight: 0, latency_weight: 0 },
                created_at: now,
                updated_at: now,
              },
            ],
          }),
        }
  const gateway = await startGateway({
    bundle,
    bindings: {
      FLOOPY_TENANTS: await tenantsFile([{ variant, key }], new Date().toISOString(), {}),
      FLOOPY_CUSTOM_PROVIDERS: JSON.stringify([
        { id: PROVIDER, baseUrl: `${upstream.url}/v1`, models: TARGETS.map((t) => t.model) },
      ]),
      FLOOPY_FEEDBACK_KEY: randomBytes(32).toString('hex'),
    },
  })
  try {
    const served: number[] = []
    const regret: number[] = []
    let total = 0
    const started = performance.now()
    for (let i = 0; i < REQUESTS; i++) {
      if (spec.paced && RATE > 0) {
        const wait = started + (i * 1000) / RATE - performance.now()
        if (wait > 0) await sleep(wait)
      }
      const label = `${spec.name}, request ${String(i + 1)}`
      const chat = await post(`${gateway.url}/v1/chat/completions`, key, {
        model: spec.model,
        messages: [{ role: 'user', content: `Question ${String(i + 1)}` }],
      })
      if (chat.status !== 200) {
        throw new Error(`${label}: status ${String(chat.status)} ${chat.text.slice(0, 300)}`)
      }
      const provider = chat.headers.get('floopy-provider')
      const model = chat.headers.get('floopy-model')
      const t = TARGETS.findIndex((target) => target.model === model)
      if (provider !== PROVIDER || t === -1) {
        throw new Error(`${label}: served by ${String(provider)}/${String(model)}, not a target`)
      }
      const requestId = chat.headers.get('x-request-id')
      if (requestId === null || !requestId.startsWith('fr1.')) {
        throw new Error(`${label}: no signed x-request-id (${String(requestId)})`)
      }
      const quality = spec.quality(t, i)
      const feedback = await post(`${gateway.url}/v1/feedback`, key, {
        request_id: requestId,
        value: (draws[i] ?? 1) < quality,
      })
      if (feedback.status !== 202) {
        throw new Error(
          `${label}: feedback status ${String(feedback.status)} ${feedback.text.slice(0, 300)}`,
        )
      }
      const best = Math.max(...TARGETS.map((_, j) => spec.quality(j, i)))
      total += best - quality
      served.push(t)
      regret.push(total)
    }
    const seconds = (performance.now() - started) / 1000
    return { spec, served, regret, rate: REQUESTS / seconds }
  } finally {
    await gateway.close()
  }
}

// ---------------------------------------------------------------------------------------------
// Figures.

/** The share of requests [from, to) served by target `t`. */
const shareOf = (served: readonly number[], t: number, from: number, to: number): number => {
  const start = Math.max(0, from)
  const end = Math.min(served.length, to)
  if (end <= start) return Number.NaN
  let hits = 0
  for (let i = start; i < end; i++) if (served[i] === t) hits++
  return hits / (end - start)
}

/** The share in the `SHARE_SPAN` requests before the `point`-th request's end. */
const shareBefore = (served: readonly number[], t: number, point: number): number =>
  shareOf(served, t, point - SHARE_SPAN, point)

const regretAt = (run: RunResult, requests: number): number =>
  requests <= 0 ? 0 : (run.regret[Math.min(requests, run.regret.length) - 1] ?? Number.NaN)

/** Regret in the first and in the second half of the run. */
const halves = (run: RunResult): [number, number] => {
  const half = Math.floor(run.regret.length / 2)
  const first = regretAt(run, half)
  return [first, regretAt(run, run.regret.length) - first]
}

/**
 * Feedbacks after the drop until the old best's share over the last `WINDOW` requests falls below
 * `RECOVERED_BELOW`; `undefined` when it never does within the run.
 */
const recoveryOf = (run: RunResult): number | undefined => {
  for (let j = DROP_AT + 1; j <= run.served.length; j++) {
    if (shareOf(run.served, BEST, j - WINDOW, j) < RECOVERED_BELOW) return j - DROP_AT
  }
  return undefined
}

const pct = (share: number): string =>
  Number.isNaN(share) ? 'n/a' : `${(share * 100).toFixed(1)} %`
const num = (value: number): string => value.toFixed(1)
const thousands = (value: number): string => value.toLocaleString('en-US')

type Goal = { text: string; measured: string; pass: boolean | undefined }

const verdict = (pass: boolean | undefined): string =>
  pass === undefined ? 'n/a' : pass ? 'PASS' : 'FAIL'

// ---------------------------------------------------------------------------------------------
// The chart: hand-written SVG, cumulative regret against requests.

const COLORS: Readonly<Record<string, string>> = {
  feedback: '#1f77b4',
  'round-robin': '#ff7f0e',
  'fixed best': '#2ca02c',
}

const escapeXml = (text: string): string =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')

/** A round step for about `count` ticks over [0, max]: 1, 2 or 5 times a power of ten. */
const niceStep = (max: number, count: number): number => {
  const raw = Math.max(max, 1e-9) / count
  const power = 10 ** Math.floor(Math.log10(raw))
  const factor = [1, 2, 5, 10].find((f) => f * power >= raw) ?? 10
  return factor * power
}

const chart = (runs: readonly RunResult[]): string => {
  const width = 800
  const height = 440
  const left = 70
  const right = 24
  const top = 48
  const bottom = 56
  const plotW = width - left - right
  const plotH = height - top - bottom
  const maxRegret = Math.max(1, ...runs.map((run) => regretAt(run, REQUESTS)))
  const yStep = niceStep(maxRegret, 5)
  // (A sum of tenths is not exact: 60.000000001 must not open another step.)
  const yMax = Math.ceil(maxRegret / yStep - 1e-6) * yStep
  const xStep = niceStep(REQUESTS, 5)
  const x = (requests: number): number => left + (requests / REQUESTS) * plotW
  const y = (regret: number): number => top + plotH - (regret / yMax) * plotH
  const lines: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${String(width)}" height="${String(height)}" viewBox="0 0 ${String(width)} ${String(height)}" font-family="sans-serif" font-size="12">`,
    `<rect width="${String(width)}" height="${String(height)}" fill="#ffffff"/>`,
    `<text x="${String(width / 2)}" y="24" text-anchor="middle" font-size="15">${escapeXml(
      `Cumulative regret, ${thousands(REQUESTS)} requests (qualities ${TARGETS.map((t) => t.quality.toFixed(1)).join(' / ')}, seed ${String(SEED)})`,
    )}</text>`,
  ]
  for (let v = 0; v <= yMax + 1e-9; v += yStep) {
    const py = y(v).toFixed(1)
    lines.push(
      `<line x1="${String(left)}" x2="${String(left + plotW)}" y1="${py}" y2="${py}" stroke="#e0e0e0"/>`,
      `<text x="${String(left - 8)}" y="${py}" text-anchor="end" dominant-baseline="middle">${escapeXml(thousands(Math.round(v * 100) / 100))}</text>`,
    )
  }
  for (let v = 0; v <= REQUESTS; v += xStep) {
    const px = x(v).toFixed(1)
    lines.push(
      `<line x1="${px}" x2="${px}" y1="${String(top)}" y2="${String(top + plotH)}" stroke="#f0f0f0"/>`,
      `<text x="${px}" y="${String(top + plotH + 18)}" text-anchor="middle">${escapeXml(thousands(v))}</text>`,
    )
  }
  lines.push(
    `<rect x="${String(left)}" y="${String(top)}" width="${String(plotW)}" height="${String(plotH)}" fill="none" stroke="#888888"/>`,
    `<text x="${String(left + plotW / 2)}" y="${String(height - 12)}" text-anchor="middle">requests (one feedback each)</text>`,
    `<text transform="translate(18 ${String(top + plotH / 2)}) rotate(-90)" text-anchor="middle">cumulative regret (quality points)</text>`,
  )
  const every = Math.max(1, Math.floor(REQUESTS / 400))
  runs.forEach((run, k) => {
    const points = [`${x(0).toFixed(1)},${y(0).toFixed(1)}`]
    for (let i = every; i <= REQUESTS; i += every) {
      points.push(`${x(i).toFixed(1)},${y(regretAt(run, i)).toFixed(1)}`)
    }
    if (REQUESTS % every !== 0) {
      points.push(`${x(REQUESTS).toFixed(1)},${y(regretAt(run, REQUESTS)).toFixed(1)}`)
    }
    const color = COLORS[run.spec.name] ?? '#444444'
    lines.push(
      `<polyline fill="none" stroke="${color}" stroke-width="2" points="${points.join(' ')}"/>`,
    )
    const ly = top + 18 + k * 18
    lines.push(
      `<line x1="${String(left + 14)}" x2="${String(left + 40)}" y1="${String(ly)}" y2="${String(ly)}" stroke="${color}" stroke-width="2"/>`,
      `<text x="${String(left + 46)}" y="${String(ly)}" dominant-baseline="middle">${escapeXml(
        `${run.spec.name}: ${num(regretAt(run, REQUESTS))}`,
      )}</text>`,
    )
  })
  lines.push('</svg>')
  return `${lines.join('\n')}\n`
}

// ---------------------------------------------------------------------------------------------
// The report.

const BEGIN = '<!-- bench:feedback begin -->'
const END = '<!-- bench:feedback end -->'
/** `bench/run.ts` rewrites everything after its marker: a section there would not survive it. */
const RUN_MARKER = '<!-- Everything below is generated by bench/run.ts; edit above this line. -->'

/**
 * Puts `section` between the markers, replacing what was there. Without markers, the section goes
 * at the end of the hand-written part: just before `bench/run.ts`'s generated half when there is
 * one (which `npm run bench` rewrites whole), else at the end of the file.
 */
const withSection = (existing: string, section: string): string => {
  const block = `${BEGIN}\n\n${section.trim()}\n\n${END}`
  const begin = existing.indexOf(BEGIN)
  const end = existing.indexOf(END)
  if (begin !== -1 && end > begin) {
    return `${existing.slice(0, begin)}${block}${existing.slice(end + END.length)}`
  }
  const run = existing.indexOf(RUN_MARKER)
  if (run !== -1) {
    return `${existing.slice(0, run).trimEnd()}\n\n${block}\n\n${existing.slice(run)}`
  }
  return `${existing.trimEnd()}\n\n${block}\n`
}

const writeFormatted = async (file: string, text: string): Promise<void> => {
  const options = (await resolveConfig(file)) ?? {}
  await writeFile(file, await format(text, { ...options, filepath: file }))
}

type Figures = {
  runs: readonly RunResult[]
  recovery: RunResult
  recoveredAfter: number | undefined
  goals: readonly Goal[]
  sharePoint: number
}

const runsTable = ({ runs, sharePoint }: Figures): string => {
  const header = [
    'run',
    'cumulative regret',
    'regret, 1st half',
    'regret, 2nd half',
    `best's share before request ${thousands(sharePoint)}`,
    `best's share before request ${thousands(REQUESTS)}`,
    'requests/s',
  ]
  const rows = runs.map((run) => {
    const [first, second] = halves(run)
    return [
      run.spec.name,
      num(regretAt(run, REQUESTS)),
      num(first),
      num(second),
      pct(shareBefore(run.served, BEST, sharePoint)),
      pct(shareBefore(run.served, BEST, REQUESTS)),
      run.rate.toFixed(0),
    ]
  })
  return [header, header.map(() => '---'), ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n')
}

const goalsTable = (goals: readonly Goal[]): string =>
  [
    '| goal | measured | |',
    '| --- | --- | --- |',
    ...goals.map((g) => `| ${g.text} | ${g.measured} | ${verdict(g.pass)} |`),
  ].join('\n')

const recoveryText = ({ recovery, recoveredAfter }: Figures): string => {
  const after = (from: number, to: number) =>
    TARGETS.map((t, i) => `${t.model} ${pct(shareOf(recovery.served, i, from, to))}`).join(', ')
  return (
    `after ${thousands(DROP_AT)} requests ${TARGETS[BEST]?.model ?? ''}'s quality drops from ` +
    `${constant(BEST).toFixed(1)} to ${DROPPED.toFixed(1)}; its share over the last ${String(WINDOW)} ` +
    `requests falls below ${pct(RECOVERED_BELOW)} ` +
    (recoveredAfter === undefined
      ? `**not within the run** (${thousands(REQUESTS - DROP_AT)} feedbacks)`
      : `after **${thousands(recoveredAfter)} feedbacks**`) +
    `. Shares in the ${String(SHARE_SPAN)} requests before the drop: ${after(DROP_AT - SHARE_SPAN, DROP_AT)}; ` +
    `in the last ${String(SHARE_SPAN)}: ${after(REQUESTS - SHARE_SPAN, REQUESTS)}. ` +
    `Cumulative regret of the run: ${num(regretAt(recovery, REQUESTS))}.`
  )
}

const reportSection = (figures: Figures): string => {
  const learning = [...figures.runs.filter((r) => r.spec.paced), figures.recovery]
  const measured = learning.map((r) => r.rate.toFixed(0)).join(', ')
  const pacing =
    RATE > 0
      ? `paced at ${String(RATE)} requests/s (measured: ${measured}), so a gateway's
  once-a-second refresh of the statistics lands about every ${String(RATE)} requests`
      : `not paced (measured: ${measured} requests/s), so the once-a-second refresh of the
  statistics lands about every that many requests`
  const targets = TARGETS.map(
    (t) => `\`${PROVIDER}/${t.model}\` quality ${t.quality.toFixed(1)}, ${String(t.latencyMs)} ms`,
  )
  return `## Feedback routing (simulation)

Generated by \`npm run bench:feedback\` (\`bench/feedback.ts\`) on ${new Date().toISOString().slice(0, 10)}:
${thousands(REQUESTS)} requests per run, each followed by one feedback; seed ${String(SEED)}.

- **What runs.** The production bundle under plain workerd with the embedded stores, a fresh
  gateway per run, gateway defaults (half-life 100 feedbacks, 10 feedbacks per target before
  exploration ends, exploration floor 0.03). Three targets of one custom provider, served by a
  fake upstream: ${targets.join(';\n  ')}.
  Quality is the probability that a feedback on the target's answer is positive; the rule's cost
  and latency weights are 0.
- **The client** sends a chat completion, reads the serving target from \`floopy-provider\` /
  \`floopy-model\`, draws a boolean feedback from that target's quality (one seeded sequence of
  draws, the same in every run) and posts it to \`/v1/feedback\` with the returned \`x-request-id\`.
  Every request answered 200 and every feedback 202, or the bench would have stopped with no
  figures. The gateway's own Thompson draws are not seeded: figures vary a little between runs.
- **Learning runs** (feedback, recovery) are ${pacing}. The other runs do not learn and are not
  paced.
- **Regret** is the best quality minus the serving target's quality (the hidden truth, not the
  draws), summed over requests. _Fixed best_ requests \`${PROVIDER}/${TARGETS[BEST]?.model ?? ''}\`
  without a rule: the floor. _Round-robin_ rotates over the three. A share "before request _k_" is
  the best target's share of the ${String(SHARE_SPAN)} requests before it.

${runsTable(figures)}

**Recovery** (scenario 2, the feedback rule): ${recoveryText(figures)}

${goalsTable(figures.goals)}

![Cumulative regret against requests](feedback-regret.svg)
`
}

// ---------------------------------------------------------------------------------------------

const main = async (): Promise<void> => {
  const random = seeded(SEED)
  const draws = Array.from({ length: REQUESTS }, () => random())
  const started: { close(): Promise<void> }[] = []
  let figures: Figures
  try {
    const upstream = await startSimUpstream()
    started.push(upstream)
    const bundle = await buildBundle('.bench/dist')
    const model = `${PROVIDER}/${TARGETS[BEST]?.model ?? ''}`
    const specs: RunSpec[] = [
      { name: 'feedback', strategy: 'feedback', model, paced: true, quality: constant },
      { name: 'round-robin', strategy: 'round-robin', model, paced: false, quality: constant },
      { name: 'fixed best', model, paced: false, quality: constant },
    ]
    const runs: RunResult[] = []
    for (const spec of specs) {
      console.error(`${TITLE}: ${spec.name}, ${thousands(REQUESTS)} requests…`)
      runs.push(await runOnce(spec, bundle, upstream, draws))
    }
    console.error(`${TITLE}: recovery, ${thousands(REQUESTS)} requests…`)
    const recovery = await runOnce(
      { name: 'recovery', strategy: 'feedback', model, paced: true, quality: dropped },
      bundle,
      upstream,
      draws,
    )
    const learned = runs[0]
    if (learned === undefined) throw new Error('no feedback run')
    const recoveredAfter = recoveryOf(recovery)
    const after = shareOf(learned.served, BEST, GOAL_FEEDBACKS, REQUESTS)
    const [first, second] = halves(learned)
    const goals: Goal[] = [
      {
        text: `≥ ${pct(GOAL_SHARE)} of the traffic on the best target after ${thousands(GOAL_FEEDBACKS)} feedbacks (a 10-point lead)`,
        measured:
          REQUESTS > GOAL_FEEDBACKS
            ? `${pct(after)} of requests ${thousands(GOAL_FEEDBACKS + 1)}–${thousands(REQUESTS)}`
            : `n/a: ${thousands(REQUESTS)} requests`,
        pass: REQUESTS > GOAL_FEEDBACKS ? after >= GOAL_SHARE : undefined,
      },
      {
        text: 'sub-linear regret: 2nd half < 1st half',
        measured: `${num(second)} < ${num(first)}`,
        pass: second < first,
      },
      {
        text: `recovery within ${String(GOAL_RECOVERY)} feedbacks`,
        measured:
          recoveredAfter === undefined
            ? `not within ${thousands(REQUESTS - DROP_AT)}`
            : `${thousands(recoveredAfter)} feedbacks`,
        pass: recoveredAfter !== undefined && recoveredAfter <= GOAL_RECOVERY,
      },
    ]
    figures = { runs, recovery, recoveredAfter, goals, sharePoint: Math.min(500, REQUESTS) }
  } catch (error) {
    console.error(
      `${TITLE} FAILED, no figures: ${error instanceof Error ? error.message : String(error)}`,
    )
    process.exitCode = 1
    return
  } finally {
    for (const running of started.reverse()) await running.close()
  }

  console.log(
    `feedback routing, ${thousands(REQUESTS)} requests per run, seed ${String(SEED)}, learning runs ${
      RATE > 0 ? `paced at ${String(RATE)}/s` : 'not paced'
    }:`,
  )
  console.log(runsTable(figures))
  console.log(`\nrecovery: ${recoveryText(figures).replace(/\*\*/g, '')}\n`)
  for (const goal of figures.goals) {
    console.log(`${verdict(goal.pass).padEnd(4)}  ${goal.text}: ${goal.measured}`)
  }
  await writeFile(path.join(benchDir, 'feedback-regret.svg'), chart(figures.runs))
  const reportFile = path.join(benchDir, 'REPORT.md')
  await writeFormatted(
    reportFile,
    withSection(await readFile(reportFile, 'utf8'), reportSection(figures)),
  )
  console.log('\nwrote bench/feedback-regret.svg and the bench:feedback section of bench/REPORT.md')
}

await main()
