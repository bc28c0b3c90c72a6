/**
 * @module `node bench/profile.ts`: a CPU profile of the gateway under load, to find where its time
 * goes. Serves the production bundle under workerd with the V8 inspector on, set up as `npm run
 * bench` sets up its gateway (the tenant of `bench/tenant.ts` with limits, quota and a routing
 * rule; the request log sealed for its Queue), drives non-streamed (or, with `PROFILE_STREAM=1`,
 * streamed) chat completions at `PROFILE_CONNECTIONS` connections (32) — with
 * `PROFILE_CACHE=miss`, each with the response cache on and a user message of its own, so every
 * request misses and stores — samples every 100 µs
 * over the Chrome DevTools Protocol, and prints the functions and the source files with the most
 * self time (the bundle's `// path` markers name each frame's file); with `PROFILE_HEAP=1` also
 * the functions that allocate most (V8's sampling heap profiler), since garbage collection is one
 * of the largest entries. `PROFILE_TARGET=reference` profiles `bench/reference-proxy.js` under the
 * same load instead, so the runtime's own entries (`fetch`, `Response`, the garbage collector) can
 * be set beside the gateway's: every row also gives its sampled microseconds per request.
 * `PROFILE_BUNDLE=<file>` serves that Worker instead (an older build, a bare variant). The raw
 * profile is written to `.bench/<target>.cpuprofile` (open it in Chrome DevTools).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import autocannon, { type Result } from 'autocannon'
import { buildBundle, startGateway } from '../scripts/workerd.ts'
import { BENCH_LOG_KEYS, startLogSink } from './log-sink.ts'
import { benchTenant } from './tenant.ts'
import { startUpstream } from './upstream.ts'

type ProfileNode = {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
}
type Profile = { nodes: ProfileNode[]; samples: number[] }

const { key, tenants } = await benchTenant()
const connections = Number(process.env.PROFILE_CONNECTIONS ?? 32)
const inspectorPort = 9229
const seconds = Number(process.env.PROFILE_SECONDS ?? 8)
const stream = process.env.PROFILE_STREAM === '1'
const cacheMiss = process.env.PROFILE_CACHE === 'miss'
const heap = process.env.PROFILE_HEAP === '1'
const reference = process.env.PROFILE_TARGET === 'reference'
if (!reference && (process.env.PROFILE_TARGET ?? 'gateway') !== 'gateway') {
  throw new Error('PROFILE_TARGET is gateway (the default) or reference')
}

const bundle =
  process.env.PROFILE_BUNDLE ??
  (reference
    ? path.join(path.dirname(fileURLToPath(import.meta.url)), 'reference-proxy.js')
    : await buildBundle('.bench/dist'))
const upstream = await startUpstream()
// The request log on, as in production and in bench/run.ts.
const sink = await startLogSink()
const gateway = await startGateway({
  queues: { LOG_QUEUE: sink.address },
  bundle,
  inspectorPort,
  bindings: {
    OPENAI_BASE_URL: `${upstream.url}/v1`,
    OPENAI_API_KEY: 'sk-bench',
    FLOOPY_TENANTS: tenants,
    FLOOPY_LOG_KEYS: BENCH_LOG_KEYS,
    BENCH_KEY: key, // the reference proxy's key check
  },
})

const load = (duration: number): Promise<Result> =>
  new Promise((resolve, reject) => {
    autocannon(
      {
        url: `${gateway.url}/v1/chat/completions`,
        method: 'POST',
        connections,
        duration,
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${key}`,
          ...(cacheMiss ? { 'floopy-cache-enabled': 'true' } : {}),
        },
        body: JSON.stringify({
          model: 'openai/gpt-4o-mini',
          // autocannon puts a fresh id in place of `[<id>]` in every request.
          messages: [{ role: 'user', content: cacheMiss ? 'hi [<id>]' : 'hi' }],
          stream,
        }),
        idReplacement: cacheMiss,
      },
      (error, result) => {
        if (error) reject(error)
        else resolve(result)
      },
    )
  })

const warm = await load(2) // warm-up: JIT and memos
if (warm.non2xx > 0 || warm.errors > 0) throw new Error('the gateway refused or failed requests')

const targets = (await (await fetch(`http://127.0.0.1:${inspectorPort}/json/list`)).json()) as {
  webSocketDebuggerUrl: string
}[]
const target = targets[0]
if (target === undefined) throw new Error('workerd exposes no inspector target')
const socket = new WebSocket(target.webSocketDebuggerUrl)
await new Promise((resolve) => {
  socket.addEventListener('open', resolve, { once: true })
})
let nextId = 0
const pending = new Map<number, (result: unknown) => void>()
socket.addEventListener('message', (event) => {
  const message = JSON.parse(String(event.data)) as { id?: number; result?: unknown }
  if (message.id !== undefined) pending.get(message.id)?.(message.result)
})
const call = (method: string, params: object = {}): Promise<unknown> =>
  new Promise((resolve) => {
    const id = ++nextId
    pending.set(id, resolve)
    socket.send(JSON.stringify({ id, method, params }))
  })

type HeapNode = {
  callFrame: ProfileNode['callFrame']
  selfSize: number
  children: HeapNode[]
}

await call('Profiler.enable')
await call('Profiler.setSamplingInterval', { interval: 100 })
await call('Profiler.start')
if (heap)
  await call('HeapProfiler.startSampling', {
    samplingInterval: 4096,
    // Everything allocated, not only what is still alive when sampling stops.
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  })
const result = await load(seconds)
const { profile } = (await call('Profiler.stop')) as { profile: Profile }
const allocations = heap
  ? ((await call('HeapProfiler.stopSampling')) as { profile: { head: HeapNode } }).profile.head
  : undefined
if (result.non2xx > 0 || result.errors > 0) {
  throw new Error('the gateway refused or failed requests')
}
socket.close()
await gateway.close()
await upstream.close()
await sink.close()

mkdirSync('.bench', { recursive: true })
writeFileSync(`.bench/${reference ? 'reference' : 'gateway'}.cpuprofile`, JSON.stringify(profile))

// The bundle marks where each source file begins (`// src/…`, `// node_modules/…`): a frame's
// line names the file it came from.
const bundleLines = readFileSync(bundle, 'utf8').split('\n')
const starts: [number, string][] = []
bundleLines.forEach((line, i) => {
  const match = /^\/\/ (\S+\.(?:ts|js|mjs|cjs))$/.exec(line)
  if (match?.[1] !== undefined) starts.push([i, match[1]])
})
const fileOf = (frame: ProfileNode['callFrame']): string => {
  if (!frame.url.endsWith(path.basename(bundle)))
    return `(runtime) ${frame.functionName || frame.url}`
  let file = path.basename(bundle)
  for (const [line, name] of starts) {
    if (line > frame.lineNumber) break
    file = name
  }
  return file
}

const nodes = new Map(profile.nodes.map((node) => [node.id, node]))
const self = new Map<string, number>()
const byFile = new Map<string, number>()
let busy = 0
for (const sample of profile.samples) {
  const frame = nodes.get(sample)?.callFrame
  if (frame?.functionName === '(idle)') continue
  busy++
  const name = frame
    ? `${frame.functionName || '(anonymous)'} ${frame.url.split('/').pop() ?? ''}:${frame.lineNumber + 1}`
    : '?'
  self.set(name, (self.get(name) ?? 0) + 1)
  const file = frame === undefined ? '?' : fileOf(frame)
  byFile.set(file, (byFile.get(file) ?? 0) + 1)
}
// Each sample stands for the interval before it (100 µs asked for): microseconds per request.
const perRequest = (samples: number): string =>
  ((samples * 100) / result['2xx']).toFixed(1).padStart(7)
const top = (
  counts: Map<string, number>,
  total: number,
  rows: number,
  each: (count: number) => string,
): void => {
  for (const [name, count] of [...counts].sort((a, b) => b[1] - a[1]).slice(0, rows)) {
    console.log(`${((100 * count) / total).toFixed(1).padStart(8)}% ${each(count)}  ${name}`)
  }
}
const micros = (samples: number): string => `${perRequest(samples)} µs`
console.log(
  `${reference ? 'reference proxy' : 'gateway'}: ${Math.round(result['2xx'] / result.duration)} req/s at ${connections} connections while profiling (${stream ? 'streamed' : 'JSON'}), ${String(busy)} busy samples, ${perRequest(busy).trim()} µs per request`,
)
console.log('\nself time by function (bundle line): share of busy samples, µs per request')
top(self, busy, 40, micros)
console.log('\nself time by source file')
top(byFile, busy, 40, micros)
if (allocations !== undefined) {
  const bytes = new Map<string, number>()
  let all = 0
  const walk = (node: HeapNode): void => {
    const file = fileOf(node.callFrame)
    const key = `${node.callFrame.functionName || '(anonymous)'} — ${file}`
    bytes.set(key, (bytes.get(key) ?? 0) + node.selfSize)
    all += node.selfSize
    for (const child of node.children) walk(child)
  }
  walk(allocations)
  const requests = result['2xx']
  console.log(
    `\nallocations by function (sampled every 4 KiB; ${(all / requests / 1024).toFixed(1)} KiB per request)`,
  )
  top(bytes, all, 30, (size) => `${(size / requests).toFixed(0).padStart(6)} B`)
}
