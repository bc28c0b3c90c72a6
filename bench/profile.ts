/**
 * @module `node bench/profile.ts`: a CPU profile of the gateway under load, to find where its time
 * goes. Serves the production bundle under workerd with the V8 inspector on, set up as `npm run
 * bench` sets up its gateway (the tenant of `bench/tenant.ts` with limits, quota and a routing
 * rule; the request log sealed for its Queue), drives non-streamed (or, with `PROFILE_STREAM=1`,
 * streamed) chat completions at `PROFILE_CONNECTIONS` connections (32) — with
 * `PROFILE_CACHE=miss`, each with the response cache on and a user message of its own, so every
 * request misses and stores — samples every 100 µs over the Chrome DevTools Protocol, and prints
 * the functions and the source files with the most self time (the bundle's source map names
 * each frame's file), each as its share of the busy samples and in sampled microseconds per
 * request; with `PROFILE_HEAP=1` also the functions that allocate most (V8's sampling heap
 * profiler), since garbage collection is one of the largest entries.
 *
 * `PROFILE_TARGET=reference` profiles `bench/reference-proxy.js` under the same load instead;
 * `PROFILE_TARGET=both` profiles the reference and the gateway in turn, `PROFILE_ROUNDS` times
 * (2), each on a fresh workerd, and prints every entry's mean microseconds per request for both
 * and what the gateway adds: the runtime's own entries (`fetch`, `Response`, the garbage
 * collector) set beside the gateway's files; with `PROFILE_HEAP=1`, each round also says how much
 * its target allocated per request. `PROFILE_BUNDLE=<file>` serves that Worker in place
 * of the gateway (an older build, a bare variant). The raw profiles are written to
 * `.bench/<target>.cpuprofile` (open them in Chrome DevTools).
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import autocannon, { type Result } from 'autocannon'
import { buildBundle, startGateway } from '../scripts/workerd.ts'
import { placeAt } from './bundle-files.ts'
import { BENCH_LOG_KEYS, startLogSink } from './log-sink.ts'
import { benchBindings, benchTenant } from './tenant.ts'
import { startUpstream } from './upstream.ts'

type CallFrame = { functionName: string; url: string; lineNumber: number; columnNumber: number }
type ProfileNode = { id: number; callFrame: CallFrame }
type Profile = { nodes: ProfileNode[]; samples: number[] }
type HeapNode = { callFrame: CallFrame; selfSize: number; children: HeapNode[] }
type Target = 'gateway' | 'reference'

/** One profiled run: sample counts by function and by file, and what the load did. */
type Run = {
  readonly self: Map<string, number>
  readonly byFile: Map<string, number>
  readonly busy: number
  readonly requests: number
  readonly seconds: number
  readonly allocations: Map<string, number> | undefined
}

const { key, tenants } = await benchTenant()
const connections = Number(process.env.PROFILE_CONNECTIONS ?? 32)
const inspectorPort = 9229
const seconds = Number(process.env.PROFILE_SECONDS ?? 8)
const rounds = Number(process.env.PROFILE_ROUNDS ?? 2)
const stream = process.env.PROFILE_STREAM === '1'
/**
 * `PROFILE_STREAM_BYTES`: each streamed answer that long (the bench upstream's `x-bench-bytes`),
 * written one HTTP chunk per event as providers stream tokens, and asked for without its usage
 * chunk, as most clients ask: what the relay costs per event when it reads the whole stream.
 */
const streamBytes = process.env.PROFILE_STREAM_BYTES
const cacheMiss = process.env.PROFILE_CACHE === 'miss'
const heap = process.env.PROFILE_HEAP === '1'
const mode = process.env.PROFILE_TARGET ?? 'gateway'
if (mode !== 'gateway' && mode !== 'reference' && mode !== 'both') {
  throw new Error('PROFILE_TARGET is gateway (the default), reference or both')
}

const bundles: Record<Target, string> = {
  gateway: process.env.PROFILE_BUNDLE ?? (await buildBundle('.bench/dist')),
  reference: path.join(path.dirname(fileURLToPath(import.meta.url)), 'reference-proxy.js'),
}
const upstream = await startUpstream()
// The request log on, as in production and in bench/run.ts.
const sink = await startLogSink()

/**
 * A frame's source file and line (the bundle's source map, or its `// path` markers: the bundle is
 * minified, so its own names and lines say little), or the runtime's own entry.
 */
const placeNamer = (bundle: string) => {
  const sourceAt = placeAt(bundle, path.basename(bundle))
  const name = path.basename(bundle)
  return (frame: CallFrame): { file: string; where: string } => {
    if (!frame.url.endsWith(name)) {
      const where = `${frame.url.split('/').pop() ?? ''}:${frame.lineNumber + 1}`
      return { file: `(runtime) ${frame.functionName || frame.url}`, where }
    }
    const place = sourceAt(frame.lineNumber, frame.columnNumber)
    return { file: place.file, where: `${place.file}:${place.line}` }
  }
}

const profileOnce = async (target: Target): Promise<Run> => {
  const bundle = bundles[target]
  const worker = await startGateway({
    queues: { LOG_QUEUE: sink.address },
    bundle,
    inspectorPort,
    bindings: benchBindings({ upstreamUrl: upstream.url, tenants, key, logKeys: BENCH_LOG_KEYS }),
  })
  try {
    const load = (duration: number): Promise<Result> =>
      new Promise((resolve, reject) => {
        autocannon(
          {
            url: `${worker.url}/v1/chat/completions`,
            method: 'POST',
            connections,
            duration,
            headers: {
              'content-type': 'application/json',
              authorization: `Bearer ${key}`,
              ...(cacheMiss ? { 'floopy-cache-enabled': 'true' } : {}),
              ...(stream && streamBytes !== undefined
                ? {
                    'x-bench-bytes': streamBytes,
                    'x-bench-gap-ms': '0',
                    'x-bench-batch-bytes': '1',
                  }
                : {}),
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
    const failed = (result: Result): boolean => result.non2xx > 0 || result.errors > 0

    if (failed(await load(2))) throw new Error(`the ${target} refused or failed requests`) // warm-up

    const listed = (await (await fetch(`http://127.0.0.1:${inspectorPort}/json/list`)).json()) as {
      webSocketDebuggerUrl: string
    }[]
    const inspector = listed[0]
    if (inspector === undefined) throw new Error('workerd exposes no inspector target')
    const socket = new WebSocket(inspector.webSocketDebuggerUrl)
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
    const allocated = heap
      ? ((await call('HeapProfiler.stopSampling')) as { profile: { head: HeapNode } }).profile.head
      : undefined
    socket.close()
    if (failed(result)) throw new Error(`the ${target} refused or failed requests`)

    mkdirSync('.bench', { recursive: true })
    writeFileSync(`.bench/${target}.cpuprofile`, JSON.stringify(profile))

    const placeOf = placeNamer(bundle)
    const nodes = new Map(profile.nodes.map((node) => [node.id, node]))
    const self = new Map<string, number>()
    const byFile = new Map<string, number>()
    let busy = 0
    for (const sample of profile.samples) {
      const frame = nodes.get(sample)?.callFrame
      if (frame?.functionName === '(idle)') continue
      busy++
      const place = frame === undefined ? undefined : placeOf(frame)
      const name = frame ? `${frame.functionName || '(anonymous)'} ${place?.where ?? ''}` : '?'
      self.set(name, (self.get(name) ?? 0) + 1)
      const file = place?.file ?? '?'
      byFile.set(file, (byFile.get(file) ?? 0) + 1)
    }
    let allocations: Map<string, number> | undefined
    if (allocated !== undefined) {
      const bytes = new Map<string, number>()
      const walk = (node: HeapNode): void => {
        const where = `${node.callFrame.functionName || '(anonymous)'} — ${placeOf(node.callFrame).where}`
        bytes.set(where, (bytes.get(where) ?? 0) + node.selfSize)
        for (const child of node.children) walk(child)
      }
      walk(allocated)
      allocations = bytes
    }
    return {
      self,
      byFile,
      busy,
      requests: result['2xx'],
      seconds: result.duration,
      allocations,
    }
  } finally {
    await worker.close()
  }
}

// Each sample stands for the interval before it (100 µs asked for): microseconds per request.
const micros = (samples: number, requests: number): number => (samples * 100) / requests
const sum = (counts: Map<string, number>): number => [...counts.values()].reduce((a, b) => a + b, 0)

const top = (counts: Map<string, number>, rows: number, each: (count: number) => string): void => {
  const total = sum(counts)
  for (const [name, count] of [...counts].sort((a, b) => b[1] - a[1]).slice(0, rows)) {
    console.log(`${((100 * count) / total).toFixed(1).padStart(8)}% ${each(count)}  ${name}`)
  }
}

const report = (target: Target, run: Run): void => {
  const us = (count: number): string => `${micros(count, run.requests).toFixed(1).padStart(7)} µs`
  console.log(
    `${target === 'reference' ? 'reference proxy' : 'gateway'}: ` +
      `${String(Math.round(run.requests / run.seconds))} req/s at ${String(connections)} ` +
      `connections while profiling (${stream ? 'streamed' : 'JSON'}), ${String(run.busy)} busy ` +
      `samples, ${micros(run.busy, run.requests).toFixed(1)} µs per request`,
  )
  console.log(
    '\nself time by function (source file and line): share of busy samples, µs per request',
  )
  top(run.self, 40, us)
  console.log('\nself time by source file')
  top(run.byFile, 40, us)
  if (run.allocations !== undefined) {
    const all = sum(run.allocations)
    console.log(
      `\nallocations by function (sampled every 4 KiB; ` +
        `${(all / run.requests / 1024).toFixed(1)} KiB per request)`,
    )
    top(run.allocations, 30, (size) => `${(size / run.requests).toFixed(0).padStart(6)} B`)
  }
}

/** Mean µs per request of every source file over `runs`. */
const meanByFile = (runs: readonly Run[]): Map<string, number> => {
  const means = new Map<string, number>()
  for (const run of runs) {
    for (const [file, count] of run.byFile) {
      means.set(file, (means.get(file) ?? 0) + micros(count, run.requests) / runs.length)
    }
  }
  return means
}

try {
  if (mode !== 'both') report(mode, await profileOnce(mode))
  else {
    const runs: Record<Target, Run[]> = { gateway: [], reference: [] }
    for (let round = 1; round <= rounds; round++) {
      for (const target of ['reference', 'gateway'] as const) {
        const run = await profileOnce(target)
        runs[target].push(run)
        console.log(
          `round ${String(round)}, ${target}: ${String(Math.round(run.requests / run.seconds))} ` +
            `req/s, ${micros(run.busy, run.requests).toFixed(1)} µs sampled per request` +
            (run.allocations === undefined
              ? ''
              : `, ${(sum(run.allocations) / run.requests / 1024).toFixed(1)} KiB allocated per request`),
        )
      }
    }
    const gateway = meanByFile(runs.gateway)
    const reference = meanByFile(runs.reference)
    const total = (list: readonly Run[]): number =>
      list.reduce((all, run) => all + micros(run.busy, run.requests), 0) / list.length
    console.log(
      `\nmean of ${String(rounds)} rounds, ${String(connections)} connections ` +
        `(${stream ? 'streamed' : 'JSON'}): gateway ${total(runs.gateway).toFixed(1)} µs, ` +
        `reference ${total(runs.reference).toFixed(1)} µs sampled per request`,
    )
    console.log(
      '\n| entry | gateway µs/req | reference µs/req | added |\n| --- | --- | --- | --- |',
    )
    const entries = [...new Set([...gateway.keys(), ...reference.keys()])]
      .map((file) => ({ file, g: gateway.get(file) ?? 0, r: reference.get(file) ?? 0 }))
      .sort((a, b) => b.g - b.r - (a.g - a.r))
    for (const { file, g, r } of entries.slice(0, 30)) {
      const added = g - r
      console.log(
        `| ${file} | ${g.toFixed(1)} | ${r.toFixed(1)} | ${added >= 0 ? '+' : ''}${added.toFixed(1)} |`,
      )
    }
  }
} finally {
  await upstream.close()
  await sink.close()
}
