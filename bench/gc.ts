/**
 * @module `node bench/gc.ts <label>=<bundle.js>[,nolog] …`: what each request leaves to V8's
 * garbage collector, the gateway bundles beside the reference proxy. Each target runs under its own
 * workerd with V8's `--trace-gc-nvp`, set up as `npm run bench` sets up its gateway (the tenant of
 * `bench/tenant.ts`, the request log sealed for its Queue stand-in; `,nolog`: no Queue binding).
 * `GC_ROUNDS` rounds (2), each visiting every target in turn, one target later each round: a 3 s
 * warm-up, then `GC_SECONDS` (10) of wrk at 32 connections, non-streamed chat completions
 * (`GC_STREAM=1`: streamed ones, asked without the usage chunk, as most clients ask). Per
 * request, from the collector's own lines: how much survived a scavenge and how much was promoted
 * to the old generation (what full collections then have to clear), the main thread's pauses for
 * scavenges and for full collections, and workerd's CPU from /proc.
 *
 * CPU per request moves with the machine; the collector's figures hardly do, so a change in what a
 * request leaves behind shows here when `ab` cannot resolve it. Exits 1 when a request fails.
 * Needs `wrk` (`apt-get install -y wrk`).
 */
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { startGateway } from '../scripts/workerd.ts'
import { BENCH_LOG_KEYS, startLogSink } from './log-sink.ts'
import { rotated } from './rotation.ts'
import { benchBindings, benchTenant } from './tenant.ts'
import { startUpstream } from './upstream.ts'
import { cpuSeconds, readWrkReport, wrkPostScript } from './wrk.ts'

const rounds = Number(process.env.GC_ROUNDS ?? 2)
/** `GC_STREAM=1`: streamed completions, asked as most clients ask (no usage chunk). */
const streamed = process.env.GC_STREAM === '1'
const seconds = Number(process.env.GC_SECONDS ?? 10)
const benchDir = path.dirname(fileURLToPath(import.meta.url))

const specs = process.argv.slice(2).map((arg) => {
  const at = arg.indexOf('=')
  if (at <= 0) throw new Error(`expected <label>=<bundle.js>[,nolog], got ${arg}`)
  const [bundle = '', ...flags] = arg.slice(at + 1).split(',')
  return { label: arg.slice(0, at), bundle: path.resolve(bundle), log: !flags.includes('nolog') }
})
if (specs.length === 0) throw new Error('usage: node bench/gc.ts <label>=<bundle.js>[,nolog] …')
const targets = [
  { label: 'reference', bundle: path.join(benchDir, 'reference-proxy.js'), log: false },
  ...specs,
]

/** One measured run: per request, bytes and microseconds. */
type Run = {
  cpuUs: number
  survivedBytes: number
  promotedBytes: number
  scavengeUs: number
  fullUs: number
  scavenges: number
  fulls: number
}

/** The fields of V8's `--trace-gc-nvp` line this bench reads. */
type GcLine = {
  gc: string
  pause: number
  promoted?: number
  new_space_survived?: number
}

const { key, tenants } = await benchTenant()
const upstream = await startUpstream()
const sink = await startLogSink()
const bindings = benchBindings({ upstreamUrl: upstream.url, tenants, key, logKeys: BENCH_LOG_KEYS })
const dir = mkdtempSync(path.join(tmpdir(), 'floopy-gc-'))
const script = path.join(dir, 'post.lua')
const body = JSON.stringify({
  model: 'openai/gpt-4o-mini',
  messages: [{ role: 'user', content: 'Say hello in five words.' }],
  ...(streamed ? { stream: true } : {}),
})
writeFileSync(script, wrkPostScript(body, { authorization: `Bearer ${key}` }))

const failures: string[] = []
const wrk = (url: string, duration: number, label: string): Promise<number> =>
  new Promise((resolve, reject) => {
    execFile(
      'wrk',
      ['-t', '2', '-c', '32', '-d', `${String(duration)}s`, '-s', script, url],
      (error, stdout) => {
        if (error) {
          reject(new Error(`wrk failed: ${error.message}`))
          return
        }
        const report = readWrkReport(stdout)
        if (report.errors > 0 || !(report.requests > 0)) failures.push(label)
        resolve(report.requests)
      },
    )
  })

const measure = async (target: (typeof targets)[number]): Promise<Run> => {
  let lines: GcLine[] = []
  const worker = await startGateway({
    bundle: target.bundle,
    bindings,
    ...(target.log ? { queues: { LOG_QUEUE: sink.address } } : {}),
    v8Flags: ['--trace-gc-nvp'],
    onOutputLine: (line) => {
      const at = line.indexOf('GC: {')
      if (at >= 0) lines.push(JSON.parse(line.slice(at + 4)) as GcLine)
    },
  })
  try {
    const url = `${worker.url}/v1/chat/completions`
    await wrk(url, 3, `${target.label} warm-up`)
    lines = []
    const before = cpuSeconds(worker.pid)
    const requests = await wrk(url, seconds, target.label)
    const cpu = cpuSeconds(worker.pid) - before
    const scavenges = lines.filter((line) => line.gc === 's')
    const fulls = lines.filter((line) => line.gc !== 's')
    const sum = (list: GcLine[], pick: (line: GcLine) => number): number =>
      list.reduce((total, line) => total + pick(line), 0)
    return {
      cpuUs: (cpu * 1e6) / requests,
      survivedBytes: sum(scavenges, (line) => line.new_space_survived ?? 0) / requests,
      promotedBytes: sum(scavenges, (line) => line.promoted ?? 0) / requests,
      scavengeUs: (sum(scavenges, (line) => line.pause) * 1000) / requests,
      fullUs: (sum(fulls, (line) => line.pause) * 1000) / requests,
      scavenges: scavenges.length,
      fulls: fulls.length,
    }
  } finally {
    await worker.close()
  }
}

const runs = new Map<string, Run[]>()
for (let round = 0; round < rounds; round++) {
  for (const target of rotated(targets, round)) {
    const run = await measure(target)
    runs.set(target.label, [...(runs.get(target.label) ?? []), run])
    console.log(
      `round ${String(round + 1)} ${target.label.padEnd(12)} CPU ${run.cpuUs.toFixed(0)} µs/req, ` +
        `survived ${run.survivedBytes.toFixed(0)} B/req, promoted ${run.promotedBytes.toFixed(0)} ` +
        `B/req, scavenges ${String(run.scavenges)} (${run.scavengeUs.toFixed(1)} µs/req), full ` +
        `collections ${String(run.fulls)} (${run.fullUs.toFixed(1)} µs/req)`,
    )
  }
}
rmSync(dir, { recursive: true, force: true })
await upstream.close()
await sink.close()

const mean = (values: number[]): number =>
  values.reduce((total, value) => total + value, 0) / values.length
console.log(
  `\nmeans of ${String(rounds)} rounds, 32 connections, ${streamed ? 'streamed' : 'JSON'}, per request:\n\n` +
    '| target | workerd CPU | survived a scavenge | promoted | scavenge pauses | full collection pauses |\n' +
    '| --- | --- | --- | --- | --- | --- |',
)
for (const [label, list] of runs) {
  const of = (pick: (run: Run) => number): number => mean(list.map(pick))
  console.log(
    `| ${label} | ${of((r) => r.cpuUs).toFixed(0)} µs | ${of((r) => r.survivedBytes).toFixed(0)} B | ` +
      `${of((r) => r.promotedBytes).toFixed(0)} B | ${of((r) => r.scavengeUs).toFixed(1)} µs | ` +
      `${of((r) => r.fullUs).toFixed(1)} µs |`,
  )
}
if (failures.length > 0) {
  console.error(`FAILED: requests failed in ${failures.join(', ')}`)
  process.exit(1)
}
process.exit(0)
