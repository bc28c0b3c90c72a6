/**
 * @module What the interleaved benchmarks (`bench/routing.ts`, `bench/stages.ts`) share: the
 * production bundle under plain workerd against the benchmark's local upstream, one organisation
 * with one key per variant, and requests one at a time on one keep-alive connection, the variants
 * interleaved request by request so a slow moment hits all of them.
 *
 * A variant is a name, the headers and body of its requests, the rows it adds to the tenants file
 * (a routing rule for its key, the organisation's prompts, …) and, optionally, a check that its
 * answers were served the way it means to measure. Each round sends one request per variant, then
 * one straight to the upstream (`DIRECT`), the scale of one provider round trip; the first
 * `warmup` rounds are not kept.
 *
 * Every request must succeed: a non-200 answer, a failed check, a network error or no answer within
 * 10 s stops the run with exit code 1, naming the variant and the request. The request log is off
 * (no Queue binding), so what differs between variants is the gateway's own work.
 */
import { Agent, request, type IncomingHttpHeaders } from 'node:http'
import { buildBundle, startGateway, type WorkerdGateway } from '../scripts/workerd.ts'
import { generateApiKey, hashApiKey, parseApiKey } from '../src/security/api-key.ts'
import type { TenantsFile } from '../src/stores/embedded/tenants-file.ts'
import { rotated } from './rotation.ts'
import { startUpstream, type Upstream } from './upstream.ts'

const TIMEOUT_MS = 10_000
const ORG_ID = 'org_bench'

/** Rows a variant adds to the tenants file besides its key. */
export type TenantRows = Partial<Pick<TenantsFile, 'routing_rules' | 'prompts' | 'prompt_versions'>>

export type Variant = {
  /** The row's name, and its key's. */
  readonly name: string
  /** Sent besides the key and the content type. */
  readonly headers?: Readonly<Record<string, string>>
  /** The JSON body, or a body per round (`round` counts from 0, warm-up included); `CHAT` when
   * absent. */
  readonly body?: unknown
  /** The rows this variant adds: its key is `keyId`, the organisation (shared) `orgId`. */
  readonly tenant?: (ids: { orgId: string; keyId: string; now: string }) => TenantRows
  /** Why a 200 answer does not count (a stage that did not run, …); `undefined` when it does. */
  readonly check?: (headers: IncomingHttpHeaders) => string | undefined
}

/** The default body: a one-message, non-streaming chat completion. */
export const CHAT = {
  model: 'openai/gpt-4o-mini',
  messages: [{ role: 'user', content: 'Hello' }],
}

/** The name of the rows for requests sent straight to the upstream, bypassing the gateway. */
export const DIRECT = 'upstream alone'

export type Sample = { ms: number; headers: IncomingHttpHeaders }

type Keyed = { variant: Variant; key: string }

/**
 * The tenants file (`FLOOPY_TENANTS`): one active organisation without limits or quota, one live
 * key per variant (`key_<name>`), and the rows each variant adds. (Exported for
 * `bench/feedback.ts`, which starts a gateway of its own per run.)
 */
export const tenantsFile = async (
  keyed: readonly Keyed[],
  now: string,
  features: Readonly<Record<string, boolean>>,
): Promise<string> => {
  const keys = await Promise.all(
    keyed.map(async ({ variant, key }) => {
      const parsed = parseApiKey(key)
      if (!parsed.ok) throw new Error('bad bench key')
      return {
        id: `key_${variant.name}`,
        org_id: ORG_ID,
        name: variant.name,
        key_hash: await hashApiKey(key),
        display_prefix: parsed.displayPrefix,
        last4: parsed.last4,
        mode: 'live' as const,
        rpm_limit: null,
        created_at: now,
        revoked_at: null,
      }
    }),
  )
  const rows = keyed.map(
    ({ variant }) => variant.tenant?.({ orgId: ORG_ID, keyId: `key_${variant.name}`, now }) ?? {},
  )
  const file: TenantsFile = {
    version: 1,
    organizations: [
      {
        id: ORG_ID,
        slug: 'bench',
        name: 'Bench',
        plan: 'bench',
        subscription_status: 'active',
        monthly_request_limit: null,
        rpm_limit: null,
        features,
        created_at: now,
        updated_at: now,
      },
    ],
    api_keys: keys,
    provider_keys: [],
    routing_rules: rows.flatMap((r) => r.routing_rules ?? []),
    prompts: rows.flatMap((r) => r.prompts ?? []),
    prompt_versions: rows.flatMap((r) => r.prompt_versions ?? []),
  }
  return JSON.stringify(file)
}

/** One request; rejects, naming `label`, unless it is answered 200 in full and passes `check`. */
const once = (
  agent: Agent,
  label: string,
  url: string,
  key: string,
  headers: Readonly<Record<string, string>>,
  body: string,
  check?: (headers: IncomingHttpHeaders) => string | undefined,
): Promise<Sample> =>
  new Promise((resolve, reject) => {
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
          ...headers,
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
          const ms = performance.now() - started
          if (res.statusCode !== 200) {
            const text = Buffer.concat(chunks).toString().slice(0, 300)
            failed(`status ${String(res.statusCode)} ${text}`)
            return
          }
          const wrong = check?.(res.headers)
          if (wrong === undefined) resolve({ ms, headers: res.headers })
          else failed(wrong)
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

export type Bench = {
  readonly gateway: WorkerdGateway
  readonly upstream: Upstream
  /** The key of the variant named `name`. */
  readonly keyOf: (name: string) => string
}

export type InterleavedOptions = {
  /** Names the run in its failure line, e.g. `bench:routing`. */
  readonly title: string
  readonly variants: readonly Variant[]
  /** Rounds kept, and rounds sent before them and not kept. */
  readonly requests: number
  readonly warmup: number
  /** The organisation's plan flags (`features`). */
  readonly features?: Readonly<Record<string, boolean>>
  /** The gateway's bindings besides the upstream, its key and the tenants file. */
  readonly bindings?: Readonly<Record<string, string>>
  /** Runs once the gateway serves, before the first round: e.g. a check of what a variant sends. */
  readonly prepare?: (bench: Bench) => Promise<void>
  /** Prints the figures from the kept samples, by variant name (and `DIRECT`). */
  readonly report: (samples: ReadonlyMap<string, readonly Sample[]>) => void
}

/**
 * Starts the upstream and the gateway, sends `warmup + requests` rounds and hands the kept samples
 * to `report`. On any failure, prints `<title> FAILED, no figures: <why>` and sets exit code 1.
 */
export async function runInterleaved(options: InterleavedOptions): Promise<void> {
  const { variants, requests, warmup } = options
  const keyed = variants.map((variant) => ({ variant, key: generateApiKey('live') }))
  const agent = new Agent({ keepAlive: true, maxSockets: 1 })
  // What to stop once the run ends, in the reverse of their starting order.
  const started: { close(): Promise<void> }[] = []
  try {
    const upstream = await startUpstream()
    started.push(upstream)
    const gateway = await startGateway({
      bundle: await buildBundle('.bench/dist'),
      bindings: {
        OPENAI_BASE_URL: `${upstream.url}/v1`,
        OPENAI_API_KEY: 'sk-bench',
        FLOOPY_TENANTS: await tenantsFile(keyed, new Date().toISOString(), options.features ?? {}),
        ...options.bindings,
      },
    })
    started.push(gateway)
    const keys = new Map(keyed.map(({ variant, key }) => [variant.name, key]))
    await options.prepare?.({ gateway, upstream, keyOf: (name) => keys.get(name) ?? '' })
    const direct = JSON.stringify(CHAT)
    const sends = [
      ...keyed.map(({ variant, key }) => {
        const { body } = variant
        const fixed = typeof body === 'function' ? undefined : JSON.stringify(body ?? CHAT)
        const bodyOf = (round: number): string =>
          fixed ?? JSON.stringify((body as (round: number) => unknown)(round))
        const headers = variant.headers ?? {}
        return {
          name: variant.name,
          send: (label: string, round: number) =>
            once(agent, label, gateway.url, key, headers, bodyOf(round), variant.check),
        }
      }),
      {
        // The upstream alone, for scale: what one provider round trip costs here.
        name: DIRECT,
        send: (label: string, _round: number) =>
          once(agent, label, upstream.url, 'sk-bench', {}, direct),
      },
    ]
    const samples = new Map(sends.map(({ name }) => [name, [] as Sample[]]))
    for (let i = 0; i < warmup + requests; i++) {
      // Each cycle starts one variant later (`bench/rotation.ts`).
      for (const { name, send } of rotated(sends, i)) {
        const sample = await send(`${name}, request ${String(i + 1)}`, i)
        if (i >= warmup) samples.get(name)?.push(sample)
      }
    }
    options.report(samples)
  } catch (error) {
    console.error(
      `${options.title} FAILED, no figures: ${error instanceof Error ? error.message : String(error)}`,
    )
    process.exitCode = 1
  } finally {
    agent.destroy()
    for (const running of started.reverse()) await running.close()
  }
}

/** The value at percentile `p` of ascending `sorted` (nearest rank, rounded down). */
export const percentile = (sorted: readonly number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN

export type Summary = { n: number; p50: number; p99: number }

export const summarize = (samples: readonly Sample[]): Summary => {
  const sorted = samples.map((s) => s.ms).sort((a, b) => a - b)
  return { n: sorted.length, p50: percentile(sorted, 50), p99: percentile(sorted, 99) }
}

export type Row = Summary & { readonly cells: readonly string[] }

/**
 * A markdown table: the row's own `columns`, then requests, p50, p99 and the p50 minus `base`
 * (the baseline row's p50, named `baseline` in the header).
 */
export const latencyTable = (
  columns: readonly string[],
  baseline: string,
  rows: readonly Row[],
  base: number,
): string => {
  const header = [...columns, 'requests', 'p50', 'p99', `p50 − ${baseline}`]
  const lines = [`| ${header.join(' | ')} |`, `|${'---|'.repeat(header.length)}`]
  for (const row of rows) {
    const delta = row.p50 - base
    const cells = [
      ...row.cells,
      String(row.n),
      `${row.p50.toFixed(3)} ms`,
      `${row.p99.toFixed(3)} ms`,
      `${(delta >= 0 ? '+' : '') + delta.toFixed(3)} ms`,
    ]
    lines.push(`| ${cells.join(' | ')} |`)
  }
  return lines.join('\n')
}
