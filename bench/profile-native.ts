/**
 * @module `node bench/profile-native.ts`: where workerd's whole CPU goes, the gateway beside the
 * reference proxy. `bench/profile.ts` asks V8's sampler, which sees the Worker's JavaScript and
 * little else: in its runs it accounted for less than half of workerd's CPU per request. This one
 * asks the kernel: `perf record` samples every thread of the workerd process, so the HTTP server
 * and client, the allocator, the runtime's Web APIs, garbage collection on V8's background threads
 * and recompilation are counted too. workerd runs with V8's `--perf-basic-prof` (and
 * `--interpreted-frames-native-stack`), so perf names compiled and interpreted JavaScript frames,
 * and each is charged to its source file through the bundle's source map.
 *
 * Set up as `npm run bench` sets up its gateway (the tenant of `bench/tenant.ts`, the request log
 * sealed for its Queue stand-in); the reference proxy (`bench/reference-proxy.js`) runs under the
 * same workerd. `PROFILE_ROUNDS` rounds (2) profile the reference, then the gateway, each on a
 * fresh workerd: a 3 s warm-up, then `PROFILE_SECONDS` (8) of wrk at `PROFILE_CONNECTIONS` (32)
 * non-streamed chat completions while perf samples at 999 Hz. Each sample's share of the run,
 * times workerd's CPU per request over the run (from /proc), gives microseconds per request.
 * Prints the mean over rounds by kind of work, by source file and by native symbol, largest
 * difference first. Perf's own sampling adds a few percent to both. `PROFILE_BUNDLE=<file>`
 * profiles that Worker in place of the gateway. `PROFILE_AGAINST=nolog` sets the gateway beside
 * itself with its request log off (no Queue binding) instead of beside the reference proxy, so the
 * difference is what the log costs. Exits 1 when a request fails. Needs `perf` and
 * `wrk` (`apt-get install -y linux-perf wrk`) and permission to profile (root, or
 * `kernel.perf_event_paranoid` ≤ 1).
 */
import { execFile, spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { buildBundle, startGateway } from '../scripts/workerd.ts'
import { placeAt } from './bundle-files.ts'
import { BENCH_LOG_KEYS, startLogSink } from './log-sink.ts'
import { benchBindings, benchTenant } from './tenant.ts'
import { startUpstream } from './upstream.ts'
import { cpuSeconds, readWrkReport, wrkPostScript } from './wrk.ts'

type Target = 'reference' | 'gateway'

/** One profiled run: µs per request by kind, by source file and by native symbol. */
type Run = {
  readonly kinds: Map<string, number>
  readonly files: Map<string, number>
  readonly symbols: Map<string, number>
  readonly cpuMicros: number
  readonly rps: number
}

const rounds = Number(process.env.PROFILE_ROUNDS ?? 2)
const seconds = Number(process.env.PROFILE_SECONDS ?? 8)
const connections = Number(process.env.PROFILE_CONNECTIONS ?? 32)
/** `PROFILE_AGAINST=nolog`: the baseline is the gateway with its log off, not the reference. */
const againstNolog = process.env.PROFILE_AGAINST === 'nolog'
if (process.env.PROFILE_AGAINST !== undefined && !againstNolog) {
  throw new Error('PROFILE_AGAINST is nolog, or unset for the reference proxy')
}

const run = (command: string, args: string[]): Promise<string> =>
  new Promise((resolve, reject) => {
    execFile(command, args, { maxBuffer: 256 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${command} failed: ${error.message}\n${stderr}`))
      else resolve(stdout)
    })
  })

for (const [tool, hint] of [
  ['perf', 'apt-get install -y linux-perf'],
  ['wrk', 'apt-get install -y wrk'],
] as const) {
  await run('sh', ['-c', `command -v ${tool}`]).catch(() => {
    throw new Error(`${tool} is needed: ${hint}`)
  })
}

const benchDir = path.dirname(fileURLToPath(import.meta.url))
const gatewayBundle = process.env.PROFILE_BUNDLE ?? (await buildBundle('.bench/dist'))
const bundles: Record<Target, string> = {
  reference: againstNolog ? gatewayBundle : path.join(benchDir, 'reference-proxy.js'),
  gateway: gatewayBundle,
}
/** What the baseline is called in the tables. */
const baseline = againstNolog ? 'log off' : 'reference'
const { key, tenants } = await benchTenant()
const upstream = await startUpstream()
const sink = await startLogSink()
const scratch = mkdtempSync(path.join(tmpdir(), 'floopy-perf-'))
const script = path.join(scratch, 'post.lua')
writeFileSync(
  script,
  wrkPostScript(
    JSON.stringify({
      model: 'openai/gpt-4o-mini',
      messages: [{ role: 'user', content: 'Say hello in five words.' }],
    }),
    { authorization: `Bearer ${key}` },
  ),
)

/** Rust frames: workerd's HTTP server and client are hyper on tokio (`kj_hyper`). */
const RUST = /hyper|tokio|httparse|futures_|kj_rs|^<?(core|alloc|bytes|http|mio|std)::|atomic_waker/
const GC =
  /Scaveng|Mark(ing|er|Compact)|Sweep|Heap::|GlobalHandles|TracedHandles|cppgc|CppHeap|Evacuat|BackingStore|ArrayBufferSweeper|IsUnmodifiedApiObject|IsUnscavengedHeapObjectSlot|ExternalEntityTable/
const COMPILE = /compiler::|maglev|turboshaft|Compiler::|Parser|BytecodeGenerator|Deoptimizer/

/** The kind of work a sample was: the runtime's parts, or JavaScript (charged to files apart). */
const kindOf = (thread: string, dso: string, symbol: string): string => {
  if (thread.startsWith('V8 ')) return "V8's background threads (parallel GC, compilation)"
  if (dso.includes('kernel')) return 'kernel (sockets, syscalls, scheduling)'
  if (symbol.startsWith('JS:')) return 'JavaScript, compiled or interpreted (by file below)'
  if (symbol.startsWith('Builtins_')) return "V8's builtins (interpreter, promises, calls)"
  if (/tcmalloc|TCMalloc|^(malloc|free|calloc|realloc)$|operator (new|delete)/.test(symbol)) {
    return 'allocator (tcmalloc)'
  }
  if (GC.test(symbol)) return 'garbage collection (main thread)'
  if (COMPILE.test(symbol)) return 'V8 compilation and deoptimisation (main thread)'
  if (symbol.startsWith('v8::') || symbol.startsWith('v8_')) return 'V8 runtime (other)'
  if (symbol.includes('jsg::')) return 'workerd jsg (JS ↔ C++ bindings)'
  if (symbol.startsWith('workerd::api::')) return 'workerd Web APIs (fetch, Headers, streams)'
  if (RUST.test(symbol)) return 'HTTP server and client (hyper, tokio)'
  if (symbol.startsWith('kj::') || symbol.startsWith('workerd::')) {
    return 'workerd and kj (event loop, I/O)'
  }
  if (/EVP_|HMAC|sha256|SHA256|aes_|chacha|bssl::/.test(symbol)) return 'BoringSSL (Web Crypto)'
  if (dso.startsWith('libc')) return 'libc (memcpy, syscalls)'
  return 'other native'
}

const add = (map: Map<string, number>, name: string, value: number): void => {
  map.set(name, (map.get(name) ?? 0) + value)
}

/** Reads `perf report` (samples, thread, DSO, symbol) into µs per request. */
const readReport = (text: string, cpuMicros: number, bundle: string): Omit<Run, 'rps'> => {
  const bundleName = path.basename(bundle)
  const sourceAt = placeAt(bundle, bundleName)
  const rows: { samples: number; thread: string; dso: string; symbol: string }[] = []
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue
    const [samples = '', thread = '', dso = '', symbol = ''] = line.split('\t').map((f) => f.trim())
    const count = Number(samples)
    if (!(count > 0)) continue
    rows.push({ samples: count, thread, dso, symbol: symbol.replace(/^\[[.k]\] /, '') })
  }
  const total = rows.reduce((all, row) => all + row.samples, 0)
  const kinds = new Map<string, number>()
  const files = new Map<string, number>()
  const symbols = new Map<string, number>()
  for (const { samples, thread, dso, symbol } of rows) {
    const micros = (samples / total) * cpuMicros
    const kind = kindOf(thread, dso, symbol)
    add(kinds, kind, micros)
    if (symbol.startsWith('JS:')) {
      // `JS:*name bundle.js:line:column` (line from 1); workerd's own modules are not the bundle.
      const where = /\s(\S+):(\d+):(\d+)$/.exec(symbol)
      const file =
        where?.[1]?.endsWith(bundleName) === true
          ? sourceAt(Number(where[2]) - 1, Number(where[3]) - 1).file
          : `(runtime) ${where?.[1] ?? symbol}`
      add(files, file, micros)
    } else {
      // Template arguments make one function many symbols: fold them.
      let name = symbol
      while (/\w<[^<>]*>/.test(name)) name = name.replace(/(\w)<[^<>]*>/g, '$1\u0001')
      name = name.replaceAll('\u0001', '<…>')
      add(symbols, `${name.slice(0, 110)} (${kind.split(' (')[0] ?? kind})`, micros)
    }
  }
  return { kinds, files, symbols, cpuMicros }
}

const profileOnce = async (target: Target, round: number): Promise<Run> => {
  const bundle = bundles[target]
  const worker = await startGateway({
    bundle,
    ...(againstNolog && target === 'reference' ? {} : { queues: { LOG_QUEUE: sink.address } }),
    v8Flags: ['--perf-basic-prof', '--interpreted-frames-native-stack'],
    bindings: benchBindings({ upstreamUrl: upstream.url, tenants, key, logKeys: BENCH_LOG_KEYS }),
  })
  const data = path.join(scratch, `${target}-${String(round)}.data`)
  try {
    const wrk = async (duration: number): Promise<ReturnType<typeof readWrkReport>> => {
      const report = readWrkReport(
        await run('wrk', [
          ...[
            '-t',
            String(Math.min(2, connections)),
            '-c',
            String(connections),
            '-d',
            `${String(duration)}s`,
            '--latency',
          ],
          ...['-s', script, `${worker.url}/v1/chat/completions`],
        ]),
      )
      if (report.errors > 0 || !(report.requests > 0)) {
        throw new Error(`the ${target} failed ${String(report.errors)} requests`)
      }
      return report
    }
    await wrk(3)
    const before = cpuSeconds(worker.pid)
    const perf = spawn(
      'perf',
      ['record', '-F', '999', '-p', String(worker.pid), '-o', data, '--', 'sleep', String(seconds)],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    )
    let perfErrors = ''
    perf.stderr.on('data', (chunk: Buffer) => {
      perfErrors += chunk.toString()
    })
    const recorded = new Promise<number | null>((resolve) => perf.once('exit', resolve))
    const load = await wrk(seconds)
    const cpu = cpuSeconds(worker.pid) - before
    if ((await recorded) !== 0) throw new Error(`perf record failed: ${perfErrors}`)
    const text = await run('perf', [
      ...['report', '-i', data, '--no-children', '-g', 'none', '--stdio'],
      ...['-F', 'sample,comm,dso,sym', '-t', '\t'],
    ])
    return {
      ...readReport(text, (cpu * 1e6) / load.requests, bundle),
      rps: load.rps,
    }
  } finally {
    const pid = worker.pid
    await worker.close()
    rmSync(data, { force: true })
    rmSync(`/tmp/perf-${String(pid)}.map`, { force: true })
  }
}

const mean = (runs: readonly Run[], field: 'kinds' | 'files' | 'symbols'): Map<string, number> => {
  const means = new Map<string, number>()
  for (const one of runs) {
    for (const [name, micros] of one[field]) add(means, name, micros / runs.length)
  }
  return means
}

const table = (
  title: string,
  gateway: Map<string, number>,
  reference: Map<string, number>,
  rows: number,
): string[] => {
  const entries = [...new Set([...gateway.keys(), ...reference.keys()])]
    .map((name) => ({ name, g: gateway.get(name) ?? 0, r: reference.get(name) ?? 0 }))
    .sort((a, b) => b.g - b.r - (a.g - a.r))
    .slice(0, rows)
  return [
    '',
    `| ${title} | gateway µs/req | ${baseline} µs/req | added |`,
    '| --- | --- | --- | --- |',
    ...entries.map(({ name, g, r }) => {
      const added = g - r
      return `| ${name.replaceAll('|', '\\|')} | ${g.toFixed(1)} | ${r.toFixed(1)} | ${added >= 0 ? '+' : ''}${added.toFixed(1)} |`
    }),
  ]
}

try {
  const runs: Record<Target, Run[]> = { reference: [], gateway: [] }
  for (let round = 1; round <= rounds; round++) {
    for (const target of ['reference', 'gateway'] as const) {
      const one = await profileOnce(target, round)
      runs[target].push(one)
      console.log(
        `round ${String(round)}, ${target === 'reference' ? baseline : target}: ` +
          `${one.rps.toFixed(0)} req/s, ` +
          `workerd ${one.cpuMicros.toFixed(1)} µs CPU per request under perf`,
      )
    }
  }
  const cpu = (list: readonly Run[]): number =>
    list.reduce((all, one) => all + one.cpuMicros, 0) / list.length
  const lines = [
    `mean of ${String(rounds)} rounds at ${String(connections)} connections (JSON): workerd ` +
      `${cpu(runs.gateway).toFixed(1)} µs per request for the gateway, ` +
      `${cpu(runs.reference).toFixed(1)} µs for ${againstNolog ? 'the gateway with its log off' : 'the reference proxy'}`,
    ...table('kind of work', mean(runs.gateway, 'kinds'), mean(runs.reference, 'kinds'), 20),
    ...table('JavaScript by file', mean(runs.gateway, 'files'), mean(runs.reference, 'files'), 25),
    ...table(
      'native symbol (kind)',
      mean(runs.gateway, 'symbols'),
      mean(runs.reference, 'symbols'),
      30,
    ),
  ]
  console.log(`\n${lines.join('\n')}`)
  mkdirSync('.bench', { recursive: true })
  writeFileSync('.bench/profile-native.md', `${lines.join('\n')}\n`)
} finally {
  await upstream.close()
  await sink.close()
  rmSync(scratch, { recursive: true, force: true })
}
