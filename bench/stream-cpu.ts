/**
 * @module `npx node bench/stream-cpu.ts [<label>=<bundle.js> …]`: workerd's CPU per streamed
 * answer, the way providers stream tokens (one HTTP chunk per event). Each Worker (the reference
 * proxy and the current build by default) runs under its own workerd, in front of the bench
 * upstream, with the bench's tenant; per round, one small warm-up stream, then `STREAM_CPU_STREAMS`
 * (10) sequential streams of `STREAM_CPU_BYTES` (1 MiB) with `include_usage` (`STREAM_CPU_USAGE=0`:
 * without, as most clients ask: by default the gateway then does not ask either and the stream
 * goes out unchanged; with `FLOOPY_STREAM_USAGE=always` as well, it asks and reads the whole stream
 * to hide the usage chunk), written in chunks of `STREAM_CPU_BATCH_BYTES` (1: one per event).
 * Prints workerd's CPU time (from /proc) per stream, `STREAM_CPU_ROUNDS` (2) rounds, the Workers
 * interleaved. Exits 1 when an answer is not a 200 or falls short of its size: no figure comes
 * from a failure path.
 */
import { Agent, request } from 'node:http'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { buildBundle, startGateway } from '../scripts/workerd.ts'
import { benchBindings, benchTenant } from './tenant.ts'
import { startUpstream } from './upstream.ts'
import { cpuSeconds } from './wrk.ts'

const benchDir = path.dirname(fileURLToPath(import.meta.url))
const bytes = Number(process.env.STREAM_CPU_BYTES ?? 1024 * 1024)
const batchBytes = process.env.STREAM_CPU_BATCH_BYTES ?? '1'
const streams = Number(process.env.STREAM_CPU_STREAMS ?? 10)
const rounds = Number(process.env.STREAM_CPU_ROUNDS ?? 2)
const usage = process.env.STREAM_CPU_USAGE !== '0'

const targets =
  process.argv.length > 2
    ? process.argv.slice(2).map((arg) => {
        const at = arg.indexOf('=')
        if (at <= 0) throw new Error(`expected <label>=<bundle.js>, got ${arg}`)
        return { label: arg.slice(0, at), bundle: path.resolve(arg.slice(at + 1)) }
      })
    : [
        { label: 'reference', bundle: path.join(benchDir, 'reference-proxy.js') },
        { label: 'gateway', bundle: await buildBundle('.bench/dist') },
      ]

const upstream = await startUpstream()
const { key, tenants } = await benchTenant()
const bindings = benchBindings({ upstreamUrl: upstream.url, tenants, key, logKeys: '' })
// `FLOOPY_STREAM_USAGE=always`: the gateway asks every stream for usage (`asked`, the default:
// only when the client does).
if (process.env.FLOOPY_STREAM_USAGE !== undefined) {
  bindings.FLOOPY_STREAM_USAGE = process.env.FLOOPY_STREAM_USAGE
}
// No Queue: this measures the relay, not the request log.
delete bindings.FLOOPY_LOG_KEYS

/** Streams one answer of `size` bytes through `url`; resolves with the bytes received. */
const stream = (url: string, agent: Agent, size: number): Promise<number> =>
  new Promise((resolve, reject) => {
    const headers = {
      authorization: `Bearer ${key}`,
      'content-type': 'application/json',
      'x-bench-bytes': String(size),
      'x-bench-gap-ms': '0',
      'x-bench-batch-bytes': batchBytes,
    }
    const req = request(`${url}/v1/chat/completions`, { method: 'POST', agent, headers }, (res) => {
      let received = 0
      res.on('data', (chunk: Buffer) => (received += chunk.length))
      res.on('error', reject)
      res.on('end', () => {
        if (res.statusCode !== 200) reject(new Error(`answered ${String(res.statusCode)}`))
        else if (received < 0.9 * size) reject(new Error(`only ${String(received)} bytes came`))
        else resolve(received)
      })
    })
    req.on('error', reject)
    req.end(
      JSON.stringify({
        model: 'gpt-4o-mini',
        stream: true,
        ...(usage ? { stream_options: { include_usage: true } } : {}),
        messages: [{ role: 'user', content: 'hi' }],
      }),
    )
  })

try {
  for (let round = 1; round <= rounds; round++) {
    for (const target of targets) {
      const worker = await startGateway({ bundle: target.bundle, bindings })
      const agent = new Agent({ keepAlive: true, maxSockets: 1 })
      try {
        await stream(worker.url, agent, 1024)
        const before = cpuSeconds(worker.pid)
        for (let i = 0; i < streams; i++) await stream(worker.url, agent, bytes)
        const perStream = ((cpuSeconds(worker.pid) - before) * 1000) / streams
        console.log(
          `round ${String(round)} ${target.label}: ${perStream.toFixed(1)} ms of workerd CPU per stream`,
        )
      } finally {
        agent.destroy()
        await worker.close()
      }
    }
  }
} catch (err) {
  console.error(`stream-cpu FAILED: ${err instanceof Error ? err.message : String(err)}`)
  process.exitCode = 1
} finally {
  await upstream.close()
}
