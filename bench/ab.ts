/**
 * @module `node bench/ab.ts <label>=<bundle.js>[,nolog][,norule] …`: interleaved CPU comparison of
 * gateway bundles beside the reference proxy, for `bench/REPORT.md`'s before/after figures. Each
 * bundle (e.g. one built from the commit before a change and one from after it, `wrangler deploy
 * --dry-run --outdir <dir>` in a checkout of each) runs under its own workerd, set up as `npm run
 * bench` sets up its gateway: the tenant of `bench/tenant.ts` (limits, quota, a routing rule) and
 * the request log sealed for a Queue stand-in (`,nolog`: no Queue binding, so no log; `,norule`:
 * the tenant without its routing rule; `,variant=<name>`: bench/relay-variants.js's variant). The
 * reference proxy (`bench/reference-proxy.js`) runs
 * beside them. `AB_ROUNDS` rounds (3) each run every target in turn — a warm-up, then
 * `AB_SECONDS` (8) of wrk at 32 connections (workerd CPU per request from /proc, req/s), then the
 * same at 1 connection (p50) — so a slow moment of the machine hits every target alike; each round
 * starts one target further along, so that every target takes every place in the cycle. Prints
 * each round and, per target, the median (and least) CPU per request, and the ratio to the
 * reference and the added p50 taken round by round (a busy moment slows a whole round). Exits 1
 * when any request errors or is refused: no figure comes from a failure path. Needs `wrk`
 * (`apt-get install -y wrk`). `AB_STREAM=1` makes wrk's requests streamed. `AB_TTFB` (200; 0 skips it) streamed completions per target and
 * round, sequential and interleaved request by request, give each target's median time to the
 * first body byte (each cycle of requests starting one target later) and, paired by round, what it
 * adds to the reference's; `AB_TTFB_GAP_MS` sets the
 * upstream's pause after its first event there (5 by default; 0 sends the stream at once).
 */
import { execFile } from 'node:child_process'
import { Agent, request } from 'node:http'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { startGateway, type WorkerdGateway } from '../scripts/workerd.ts'
import { BENCH_LOG_KEYS, startLogSink } from './log-sink.ts'
import { benchBindings, benchTenant } from './tenant.ts'
import { startUpstream } from './upstream.ts'
import { rotated } from './rotation.ts'
import { cpuSeconds, readWrkReport, wrkPostScript } from './wrk.ts'

const benchDir = path.dirname(fileURLToPath(import.meta.url))
const rounds = Number(process.env.AB_ROUNDS ?? 3)
const seconds = Number(process.env.AB_SECONDS ?? 8)
const ttfbRequests = Number(process.env.AB_TTFB ?? 200)
/** `AB_TTFB_GAP_MS`: the upstream's pause after its first event in the TTFB series (its default, 5). */
const ttfbGapMs = process.env.AB_TTFB_GAP_MS
/** `AB_STREAM=1`: wrk asks for streamed completions (SSE) instead of JSON ones. */
const streamed = process.env.AB_STREAM === '1'
const specs = process.argv.slice(2).map((arg) => {
  const at = arg.indexOf('=')
  if (at <= 0) throw new Error(`expected <label>=<bundle.js>[,nolog][,norule], got ${arg}`)
  const [bundle = '', ...flags] = arg.slice(at + 1).split(',')
  return {
    label: arg.slice(0, at),
    bundle: path.resolve(bundle),
    log: !flags.includes('nolog'),
    rule: !flags.includes('norule'),
    /** `variant=<name>`: the `VARIANT` binding, for bench/relay-variants.js. */
    variant: flags.find((flag) => flag.startsWith('variant='))?.slice('variant='.length),
  }
})
if (specs.length === 0) throw new Error('usage: node bench/ab.ts <label>=<bundle.js> …')

type Run = { cpuMs: number; rps: number; p50: number }

const { key, tenants } = await benchTenant()
const withoutRule = (await benchTenant({ rule: false, key })).tenants
const upstream = await startUpstream()
const sink = await startLogSink()
const bindings = benchBindings({ upstreamUrl: upstream.url, tenants, key, logKeys: BENCH_LOG_KEYS })
/** The chat completion every target is asked for; `stream`: as SSE, with its usage chunk. */
const chatBody = (stream: boolean): string =>
  JSON.stringify({
    model: 'openai/gpt-4o-mini',
    messages: [{ role: 'user', content: 'Say hello in five words.' }],
    ...(stream ? { stream: true, stream_options: { include_usage: true } } : {}),
  })
const dir = mkdtempSync(path.join(tmpdir(), 'floopy-ab-'))
const script = path.join(dir, 'post.lua')
writeFileSync(script, wrkPostScript(chatBody(streamed), { authorization: `Bearer ${key}` }))

const failures: string[] = []
const wrk = async (
  worker: WorkerdGateway,
  connections: number,
  duration: number,
  label: string,
): Promise<Run> => {
  const before = cpuSeconds(worker.pid)
  const output = await new Promise<string>((resolve, reject) => {
    execFile(
      'wrk',
      [
        ...['-t', String(Math.min(2, connections)), '-c', String(connections)],
        ...['-d', `${String(duration)}s`, '--latency', '-s', script],
        `${worker.url}/v1/chat/completions`,
      ],
      (error, stdout) => {
        if (error) reject(new Error(`wrk failed: ${error.message}`))
        else resolve(stdout)
      },
    )
  })
  const cpu = cpuSeconds(worker.pid) - before
  const report = readWrkReport(output)
  if (report.errors > 0 || !(report.requests > 0)) {
    failures.push(label)
    console.error(
      `FAILED: ${label}: ${String(report.errors)} failed requests (non-2xx or socket errors)`,
    )
  }
  return {
    cpuMs: (cpu * 1000) / report.requests,
    rps: report.rps,
    p50: report.p50,
  }
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN
}

const streamBody = chatBody(true)

/** One streamed completion read to its end: ms to the first body byte. */
const firstByte = (worker: WorkerdGateway, agent: Agent, label: string): Promise<number> =>
  new Promise((resolve, reject) => {
    const started = process.hrtime.bigint()
    let first = Number.NaN
    const req = request(
      `${worker.url}/v1/chat/completions`,
      {
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${key}`,
          ...(ttfbGapMs === undefined ? {} : { 'x-bench-gap-ms': ttfbGapMs }),
        },
      },
      (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => {
          if (Number.isNaN(first)) first = Number(process.hrtime.bigint() - started) / 1e6
          text += chunk
        })
        res.on('end', () => {
          if (res.statusCode !== 200 || !text.includes('[DONE]')) {
            reject(new Error(`${label}: a stream answered ${String(res.statusCode)}: ${text}`))
          } else resolve(first)
        })
        res.on('error', reject)
      },
    )
    req.on('error', reject)
    req.end(streamBody)
  })

const targets: { label: string; worker: WorkerdGateway }[] = []
try {
  targets.push({
    label: 'reference',
    worker: await startGateway({ bundle: path.join(benchDir, 'reference-proxy.js'), bindings }),
  })
  for (const { label, bundle, log, rule, variant } of specs) {
    targets.push({
      label,
      worker: await startGateway({
        bundle,
        bindings: {
          ...bindings,
          ...(rule ? {} : { FLOOPY_TENANTS: withoutRule }),
          ...(variant === undefined ? {} : { VARIANT: variant }),
        },
        ...(log ? { queues: { LOG_QUEUE: sink.address } } : {}),
      }),
    })
  }
  const results = new Map<string, { at32: Run; at1: Run }[]>()
  for (let round = 1; round <= rounds; round++) {
    // Each round starts one target later (`bench/rotation.ts`).
    for (const { label, worker } of rotated(targets, round - 1)) {
      await wrk(worker, 32, 2, `${label} warm-up`)
      const at32 = await wrk(worker, 32, seconds, `${label} 32 conns`)
      await wrk(worker, 1, 1, `${label} warm-up`)
      const at1 = await wrk(worker, 1, seconds, `${label} 1 conn`)
      const list = results.get(label) ?? []
      list.push({ at32, at1 })
      results.set(label, list)
      console.log(
        `round ${String(round)} ${label.padEnd(12)} CPU/req ${at32.cpuMs.toFixed(3)} ms, ` +
          `${at32.rps.toFixed(0)} req/s at 32; p50 ${at1.p50.toFixed(3)} ms at 1`,
      )
    }
  }
  const ttfb = new Map<string, number[]>()
  if (ttfbRequests > 0) {
    const agents = targets.map(() => new Agent({ keepAlive: true, maxSockets: 1 }))
    try {
      for (let round = 1; round <= rounds; round++) {
        const times = targets.map(() => [] as number[])
        for (let i = 0; i < 20 + ttfbRequests; i++) {
          // Each cycle starts one target later (`bench/rotation.ts`).
          for (const t of rotated([...targets.keys()], i)) {
            const { label, worker } = targets[t] as (typeof targets)[number]
            const ms = await firstByte(worker, agents[t] as Agent, label)
            if (i >= 20) times[t]?.push(ms) // the first 20 warm up
          }
        }
        for (const [t, { label }] of targets.entries()) {
          const list = ttfb.get(label) ?? []
          list.push(median(times[t] ?? []))
          ttfb.set(label, list)
        }
        const line = targets.map(
          ({ label }) => `${label} ${(ttfb.get(label)?.at(-1) ?? 0).toFixed(3)} ms`,
        )
        console.log(`round ${String(round)} TTFB p50: ${line.join(', ')}`)
      }
    } catch (err) {
      failures.push(String(err))
      console.error(`FAILED: ${String(err)}`)
    } finally {
      for (const agent of agents) agent.destroy()
    }
  }
  // Paired by round: a busy moment of the machine slows every target of its round alike, so the
  // ratio to the same round's reference moves less than either figure alone.
  const reference = results.get('reference') ?? []
  const paired = (
    list: { at32: Run; at1: Run }[],
    pick: (run: { at32: Run; at1: Run }) => number,
  ) =>
    list.map((run, i) => {
      const same = reference[i]
      return same === undefined ? Number.NaN : pick(run) / pick(same)
    })
  console.log(
    `\n| target | CPU/req at 32, median (min) of ${String(rounds)} | × reference, per round | ` +
      'req/s at 32 | p50 at 1 | p50 at 1 − reference, per round | TTFB p50 − reference, per round |',
  )
  console.log('|---|---|---|---|---|---|---|')
  const referenceTtfb = ttfb.get('reference') ?? []
  for (const [label, list] of results) {
    const cpu = list.map((r) => r.at32.cpuMs)
    const added = list.map((run, i) => run.at1.p50 - (reference[i]?.at1.p50 ?? Number.NaN))
    const addedTtfb = (ttfb.get(label) ?? []).map((ms, i) => ms - (referenceTtfb[i] ?? Number.NaN))
    const signed = (ms: number): string => `${ms >= 0 ? '+' : ''}${ms.toFixed(3)} ms`
    console.log(
      `| ${label} | ${median(cpu).toFixed(3)} ms (${Math.min(...cpu).toFixed(3)}) | ` +
        `${median(paired(list, (r) => r.at32.cpuMs)).toFixed(2)} | ` +
        `${median(list.map((r) => r.at32.rps)).toFixed(0)} | ` +
        `${median(list.map((r) => r.at1.p50)).toFixed(3)} ms | ` +
        `${signed(median(added))} | ` +
        `${addedTtfb.length > 0 ? signed(median(addedTtfb)) : '—'} |`,
    )
  }
} finally {
  for (const { worker } of targets) await worker.close()
  await upstream.close()
  await sink.close()
  rmSync(dir, { recursive: true, force: true })
}
if (failures.length > 0) process.exit(1)
