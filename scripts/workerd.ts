/**
 * @module Runs the production bundle — the exact file `wrangler deploy` uploads — under plain
 * `workerd`, for end-to-end tests and benchmarks. `wrangler dev` is a development server whose
 * proxy layers cost tens of milliseconds per request, so it says nothing about the gateway's own
 * overhead; `workerd serve` with a small config is the runtime Cloudflare runs, minus the edge.
 *
 * As a CLI, `node scripts/workerd.ts [--port N]` builds the bundle and serves it on 127.0.0.1
 * (port 8787 by default), taking its bindings from the environment (see `bindingsFromEnv`).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import {
  copyFile,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rename,
  rm,
  writeFile,
} from 'node:fs/promises'
import { request } from 'node:http'
import { createRequire } from 'node:module'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export type WorkerdGateway = {
  url: string
  pid: number
  rssBytes(): Promise<number>
  close(): Promise<void>
}

export type GatewayOptions = {
  /** Text bindings, as secrets and `[vars]` reach the Worker in production. */
  bindings: Record<string, string>
  /** Port on 127.0.0.1; a free one is picked when absent. */
  port?: number
  /** Bundle to serve; `buildBundle()` (dist/index.js) when absent. */
  bundle?: string
  /** Also copy workerd's stdout/stderr to this process's stderr (the CLI wants to see logs). */
  echoOutput?: boolean
  /** Called with every complete line workerd writes to stdout or stderr (the Worker's console
   * output included), e.g. to watch for an error line a benchmark must not tolerate. */
  onOutputLine?: (line: string) => void
  /** Open the V8 inspector on this 127.0.0.1 port (CPU profiles: see bench/profile.ts). */
  inspectorPort?: number
  /**
   * Queue producer bindings: binding name → `host:port` of an HTTP service that receives what the
   * Worker sends (workerd delivers each `send()` as an HTTP request to it), e.g. a log sink.
   */
  queues?: Record<string, string>
  /** V8 flags for workerd's isolates (`v8Flags` in its config), e.g. `--perf-basic-prof`. */
  v8Flags?: string[]
}

const repoRoot = fileURLToPath(new URL('..', import.meta.url))
const wranglerToml = path.join(repoRoot, 'wrangler.toml')
const startupTimeoutMs = 20_000
/** workerd's output is kept only for error messages; a bound keeps a chatty gateway under load
 * from growing this process's memory. */
const outputLimitBytes = 64 * 1024

// Wrangler must not phone home: the sandbox has no route to Cloudflare, and a build is local.
const offlineEnv = { CLOUDFLARE_CF_FETCH_ENABLED: 'false', WRANGLER_SEND_METRICS: 'false' }

type WranglerSettings = { main: string; compatibilityDate: string; compatibilityFlags: string[] }

/**
 * Reads the three keys the launcher needs from wrangler.toml. Only the top-level table counts
 * (`[env.*]` sections may override them for other environments), and only the value shapes these
 * keys take: a quoted string and an array of quoted strings, possibly spread over several lines.
 */
export async function readWranglerSettings(file = wranglerToml): Promise<WranglerSettings> {
  const text = await readFile(file, 'utf8')
  const topLevel = text.split(/^\s*\[/m)[0] ?? ''
  const uncommented = topLevel
    .split('\n')
    .map((line) => line.replace(/#.*$/, ''))
    .join('\n')
  const stringKey = (key: string): string | undefined => {
    const match = new RegExp(`^\\s*${key}\\s*=\\s*(?:"([^"]*)"|'([^']*)')`, 'm').exec(uncommented)
    return match?.[1] ?? match?.[2]
  }
  const compatibilityDate = stringKey('compatibility_date')
  if (compatibilityDate === undefined) throw new Error(`${file}: no compatibility_date`)
  const flagList = /^\s*compatibility_flags\s*=\s*\[([^\]]*)\]/m.exec(uncommented)?.[1] ?? ''
  const compatibilityFlags = [...flagList.matchAll(/"([^"]*)"|'([^']*)'/g)].map(
    (match) => match[1] ?? match[2] ?? '',
  )
  return { main: stringKey('main') ?? 'src/index.ts', compatibilityDate, compatibilityFlags }
}

/**
 * A Cap'n Proto text literal holding exactly `value`. Everything outside printable ASCII goes out
 * as `\xNN` escapes of its UTF-8 bytes, so quotes, backslashes, newlines and non-ASCII text in
 * JSON-valued bindings survive the config parser byte for byte.
 */
export function capnpString(value: string): string {
  let literal = '"'
  for (const byte of Buffer.from(value, 'utf8')) {
    if (byte === 0x22) literal += '\\"'
    else if (byte === 0x5c) literal += '\\\\'
    else if (byte >= 0x20 && byte < 0x7f) literal += String.fromCharCode(byte)
    else literal += `\\x${byte.toString(16).padStart(2, '0')}`
  }
  return `${literal}"`
}

const builds = new Map<string, Promise<string>>()

/**
 * Builds the production bundle with `wrangler deploy --dry-run --outdir <outdir>` and returns the
 * path of its main module. Memoised per process and output directory: tests and benches that ask
 * for the bundle several times pay for one build.
 */
export async function buildBundle(outdir = 'dist'): Promise<string> {
  const dir = path.resolve(repoRoot, outdir)
  let build = builds.get(dir)
  if (build === undefined) {
    build = runBuild(dir)
    builds.set(dir, build)
    // A failed build must not poison later attempts in the same process.
    build.catch(() => builds.delete(dir))
  }
  return build
}

async function runBuild(dir: string): Promise<string> {
  const { main } = await readWranglerSettings()
  const mainModule = `${path.basename(main, path.extname(main))}.js`
  await mkdir(dir, { recursive: true })
  // Several processes (parallel e2e test files) may build at once. Each builds into its own
  // staging directory inside the output directory (ignored by git like the output itself, and on
  // the same file system) and then renames file by file: a rename is atomic, so a workerd reading
  // the bundle never sees a half-written file.
  const staging = await mkdtemp(path.join(dir, '.build-'))
  try {
    const wrangler = path.join(repoRoot, 'node_modules', 'wrangler', 'bin', 'wrangler.js')
    const args = [wrangler, 'deploy', '--dry-run', '--outdir', staging]
    const { code, output } = await run(nodeForWrangler(), args, { ...process.env, ...offlineEnv })
    if (code !== 0) throw new Error(`wrangler deploy --dry-run failed (exit ${code}):\n${output}`)
    const files = await readdir(staging)
    if (!files.includes(mainModule)) {
      throw new Error(`wrangler wrote no ${mainModule} (got ${files.join(', ')}):\n${output}`)
    }
    const extra = files.filter((f) => ![mainModule, `${mainModule}.map`, 'README.md'].includes(f))
    if (extra.length > 0) {
      // The launcher serves a single module; say so instead of letting workerd fail on an import.
      throw new Error(`bundle has additional modules the launcher does not load: ${extra.join()}`)
    }
    for (const file of files) await rename(path.join(staging, file), path.join(dir, file))
    return path.join(dir, mainModule)
  } finally {
    await rm(staging, { recursive: true, force: true })
  }
}

/** Wrangler refuses Node < 22; when this runs under an older `node` (vitest started by the
 * system's Node 20), the repository's own Node 22 from node_modules/.bin builds instead. */
function nodeForWrangler(): string {
  const major = Number(process.versions.node.split('.')[0])
  const local = path.join(repoRoot, 'node_modules', '.bin', 'node')
  return major < 22 && existsSync(local) ? local : process.execPath
}

function run(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] })
    const chunks: Buffer[] = []
    const keep = (chunk: Buffer): void => {
      chunks.push(chunk)
    }
    child.stdout.on('data', keep)
    child.stderr.on('data', keep)
    child.once('error', reject)
    child.once('close', (code) => {
      resolve({ code, output: Buffer.concat(chunks).toString() })
    })
  })
}

/** Path of the workerd binary from `@cloudflare/workerd-linux-64` in node_modules. */
export function workerdBinary(): string {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(
      `scripts/workerd.ts resolves the linux-x64 workerd only (this is ${process.platform}-${process.arch})`,
    )
  }
  const require = createRequire(import.meta.url)
  const pkg = require.resolve('@cloudflare/workerd-linux-64/package.json')
  return path.join(path.dirname(pkg), 'bin', 'workerd')
}

/** Asks the kernel for a free port, then releases it for workerd. Another process could take it
 * in between; on a development machine that race is rare enough to accept. */
async function freePort(): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  server.close()
  await once(server, 'close')
  if (address === null || typeof address === 'string') throw new Error('no port assigned')
  return address.port
}

function capnpConfig(
  settings: WranglerSettings,
  moduleName: string,
  bindings: Record<string, string>,
  port: number,
  queues: Record<string, string>,
  v8Flags: string[],
): string {
  const list = (items: string[], indent: string): string =>
    items.length === 0
      ? '[]'
      : `[\n${items.map((item) => `${indent}  ${item},`).join('\n')}\n${indent}]`
  const queueNames = Object.keys(queues)
  const bindingEntries = [
    ...Object.entries(bindings).map(
      ([name, value]) => `(name = ${capnpString(name)}, text = ${capnpString(value)})`,
    ),
    ...queueNames.map(
      (name, i) => `(name = ${capnpString(name)}, queue = ${capnpString(`queue-${String(i)}`)})`,
    ),
  ]
  const queueServices = queueNames.map(
    (name, i) =>
      `(name = ${capnpString(`queue-${String(i)}`)}, external = (address = ${capnpString(queues[name] ?? '')}, http = ())),`,
  )
  return `using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "main", worker = .gateway),
    # Outbound fetches: loopback fakes in tests and benches, real providers over TLS otherwise.
    (name = "internet", network = (
      allow = ["public", "private", "local"],
      tlsOptions = (trustBrowserCas = true),
    )),${queueServices.map((entry) => `\n    ${entry}`).join('')}
  ],
  sockets = [(name = "http", address = "127.0.0.1:${port}", http = (), service = "main")],${
    v8Flags.length === 0 ? '' : `\n  v8Flags = ${list(v8Flags.map(capnpString), '  ')},`
  }
);

const gateway :Workerd.Worker = (
  modules = [(name = ${capnpString(moduleName)}, esModule = embed ${capnpString(moduleName)})],
  compatibilityDate = ${capnpString(settings.compatibilityDate)},
  compatibilityFlags = ${list(settings.compatibilityFlags.map(capnpString), '  ')},
  bindings = ${list(bindingEntries, '  ')},
  globalOutbound = "internet",
);
`
}

type Exit = { code: number | null; signal: NodeJS.Signals | null }

type Launched = { gateway: WorkerdGateway; exited: Promise<Exit> }

async function launch(options: GatewayOptions): Promise<Launched> {
  const bundle = options.bundle ?? (await buildBundle())
  const settings = await readWranglerSettings()
  const port = options.port ?? (await freePort())
  const dir = await mkdtemp(path.join(tmpdir(), 'floopy-workerd-'))
  try {
    return await launchIn(dir, bundle, settings, port, options)
  } catch (error) {
    await rm(dir, { recursive: true, force: true })
    throw error
  }
}

async function launchIn(
  dir: string,
  bundle: string,
  settings: WranglerSettings,
  port: number,
  options: GatewayOptions,
): Promise<Launched> {
  // The bundle is copied next to the config: `embed` resolves relative paths from the config's
  // directory, and a private copy keeps a rebuild during a long run from changing what is served.
  const moduleName = path.basename(bundle)
  await copyFile(bundle, path.join(dir, moduleName))
  const configPath = path.join(dir, 'config.capnp')
  await writeFile(
    configPath,
    capnpConfig(
      settings,
      moduleName,
      options.bindings,
      port,
      options.queues ?? {},
      options.v8Flags ?? [],
    ),
  )

  // `--experimental` lets wrangler.toml name experimental compatibility flags, as `wrangler dev`
  // (Miniflare) allows; it changes nothing for flags that are not experimental.
  const inspector =
    options.inspectorPort === undefined
      ? []
      : [`--inspector-addr=127.0.0.1:${options.inspectorPort}`]
  const child = spawn(workerdBinary(), ['serve', configPath, '--experimental', ...inspector], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  const collector = (): ((chunk: Buffer) => void) => {
    // Per stream: a line can arrive in pieces, and the two pipes interleave.
    let partial = ''
    return (chunk) => {
      output = (output + chunk.toString()).slice(-outputLimitBytes)
      if (options.echoOutput === true) process.stderr.write(chunk)
      const onLine = options.onOutputLine
      if (onLine === undefined) return
      const lines = (partial + chunk.toString()).split('\n')
      partial = (lines.pop() ?? '').slice(-outputLimitBytes)
      for (const line of lines) onLine(line)
    }
  }
  // Both pipes are always drained: a full pipe would block workerd's logging, then workerd.
  child.stdout.on('data', collector())
  child.stderr.on('data', collector())
  const exited = new Promise<Exit>((resolve) => {
    child.once('exit', (code, signal) => {
      resolve({ code, signal })
    })
  })
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve))
  // A test runner that dies mid-test must not leave workerd holding a port.
  const killOnExit = (): void => {
    child.kill('SIGKILL')
  }
  process.once('exit', killOnExit)
  const stopWorkerd = async (): Promise<void> => {
    await stop(child, exited)
    process.removeListener('exit', killOnExit)
  }

  const url = `http://127.0.0.1:${port}`
  try {
    await waitUntilUp(url, exited, spawnError, () => output)
  } catch (error) {
    await stopWorkerd()
    throw error
  }
  const pid = child.pid
  if (pid === undefined) throw new Error('workerd has no pid')

  let closing: Promise<void> | undefined
  const close = async (): Promise<void> => {
    await stopWorkerd()
    await rm(dir, { recursive: true, force: true })
  }
  const gateway: WorkerdGateway = {
    url,
    pid,
    rssBytes: () => vmRssBytes(pid),
    close: () => (closing ??= close()),
  }
  return { gateway, exited }
}

/** Starts the bundle under workerd on 127.0.0.1 and resolves once it answers HTTP. */
export async function startGateway(options: GatewayOptions): Promise<WorkerdGateway> {
  return (await launch(options)).gateway
}

async function waitUntilUp(
  url: string,
  exited: Promise<Exit>,
  spawnError: Promise<Error>,
  output: () => string,
): Promise<void> {
  const deadline = Date.now() + startupTimeoutMs
  let failure: Error | undefined
  void exited.then(({ code, signal }) => {
    failure ??= new Error(
      `workerd exited (${signal ?? `code ${code}`}) before serving ${url}:\n${output()}`,
    )
  })
  void spawnError.then((error) => {
    failure ??= new Error(`could not start workerd: ${error.message}`)
  })
  while (Date.now() < deadline) {
    if (failure !== undefined) throw failure
    // Any status counts: the point is that workerd parsed the config, loaded the bundle and
    // serves, not what the gateway answers on /healthz.
    if (await answers(`${url}/healthz`)) return
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw (
    failure ??
    new Error(`workerd did not answer ${url} within ${startupTimeoutMs / 1000} s:\n${output()}`)
  )
}

/** One HTTP GET on a fresh connection (`agent: false`), so no pooled socket outlives the probe. */
function answers(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(url, { agent: false, timeout: 2_000 }, (res) => {
      res.resume()
      resolve(true)
    })
    req.once('timeout', () => req.destroy())
    req.once('error', () => {
      resolve(false)
    })
    req.end()
  })
}

async function stop(child: ChildProcess, exited: Promise<Exit>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return
  child.kill('SIGTERM')
  // workerd drains open connections on SIGTERM; a load generator's idle keep-alive sockets would
  // hold it, so it gets a moment and then SIGKILL. It keeps no state worth a graceful exit.
  const timer = setTimeout(() => child.kill('SIGKILL'), 2_000)
  await exited
  clearTimeout(timer)
}

async function vmRssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const kib = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1]
  if (kib === undefined) throw new Error(`no VmRSS in /proc/${pid}/status`)
  return Number(kib) * 1024
}

const providerBinding =
  /^(OPENAI|ANTHROPIC|GEMINI|GROQ|MISTRAL|DEEPSEEK|TOGETHER)_(API_KEY|BASE_URL)$/

const storeBinding =
  /^(SUPABASE_URL|SUPABASE_SERVICE_ROLE_KEY|UPSTASH_REDIS_REST_URL|UPSTASH_REDIS_REST_TOKEN)$/

/** The environment variables that are gateway configuration: every `FLOOPY_*`, each provider's
 * key and base URL, and the stores' URLs and keys. Anything else in the shell (PATH, HOME, …)
 * stays out. */
export function bindingsFromEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const bindings: Record<string, string> = {}
  for (const [name, value] of Object.entries(env)) {
    const gatewayConfig =
      name.startsWith('FLOOPY_') || providerBinding.test(name) || storeBinding.test(name)
    if (value !== undefined && gatewayConfig) {
      bindings[name] = value
    }
  }
  return bindings
}

async function main(argv: string[]): Promise<void> {
  const portFlag = argv.indexOf('--port')
  const port = portFlag === -1 ? 8787 : Number(argv[portFlag + 1])
  if (!Number.isInteger(port) || port <= 0 || port > 65_535)
    throw new Error('--port takes a port number')
  const bindings = bindingsFromEnv()
  const bundle = await buildBundle()
  const { gateway, exited } = await launch({ bindings, port, bundle, echoOutput: true })
  const names = Object.keys(bindings).sort()
  console.log(`bindings: ${names.length > 0 ? names.join(', ') : '(none)'}`)
  console.log(`gateway (production bundle under workerd, pid ${gateway.pid}) at ${gateway.url}`)
  const stopping = new AbortController()
  const shutDown = (): void => {
    stopping.abort()
    void gateway.close()
  }
  process.once('SIGINT', shutDown)
  process.once('SIGTERM', shutDown)
  const { code, signal } = await exited
  // Ctrl-C reaches workerd too (same process group), so its exit on a signal is a normal stop.
  if (stopping.signal.aborted) return
  console.error(`workerd exited (${signal ?? `code ${code}`})`)
  process.exitCode = code ?? 1
}

const invokedPath = process.argv[1]
if (invokedPath !== undefined && path.resolve(invokedPath) === fileURLToPath(import.meta.url)) {
  await main(process.argv.slice(2))
}
