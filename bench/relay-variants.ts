/**
 * @module `npx node bench/relay-variants.ts`: the bare relays of bench/relay-variants.js, each
 * under a fresh workerd in front of the bench upstream. Per variant: workerd's RSS growth (VmHWM)
 * after each of ten streams of RELAY_BYTES (default 16 MiB), as bench/run.ts measures it, the
 * upstream writing it in HTTP chunks of about RELAY_BATCH_BYTES (65536; 1: a chunk per event); with
 * RELAY_CANCEL=1 instead, when the Worker hears that a client left 300 ms into a stream whose
 * provider then pauses 3 s. RELAY_VARIANTS (comma-separated) picks variants. RELAY_V8_FLAGS
 * passes V8 flags and prints workerd's output: with `--expose-gc`, the `grow` and `writer`
 * variants collect garbage after each stream, which shows how much of their growth is garbage.
 */
import { readFileSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { Agent, request } from 'node:http'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { startGateway } from '../scripts/workerd.ts'
import { startUpstream } from './upstream.ts'

const MiB = 1024 * 1024
const bundle = path.join(path.dirname(fileURLToPath(import.meta.url)), 'relay-variants.js')
const variants = (
  process.env.RELAY_VARIANTS ??
  'native,native-pipe,pull,bytes,fresh16,fresh256,fresh1024,writer16,writer64,writer256,writer-full256,reuse16,reuse256,tee64,tee-full256,tee-pipe256,grow256'
).split(',')
const bytes = Number(process.env.RELAY_BYTES ?? 16 * MiB)
const cancelling = process.env.RELAY_CANCEL === '1'
/** `RELAY_V8_FLAGS`: V8 flags for workerd (e.g. `--trace-gc --expose-gc`); its output is printed. */
const v8Flags = process.env.RELAY_V8_FLAGS?.split(' ')

const status = (pid: number, field: 'VmHWM' | 'VmRSS'): number =>
  Number(
    new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1],
  ) * 1024

/** GETs `url`, counting the body's bytes; `leaveAfterMs` closes the connection that long in. */
const get = (url: string, agent: Agent, headers: Record<string, string>, leaveAfterMs?: number) =>
  new Promise<number>((resolve, reject) => {
    const req = request(url, { agent, headers }, (res) => {
      let received = 0
      res.on('data', (chunk: Buffer) => (received += chunk.length))
      res.on('end', () => {
        resolve(received)
      })
      res.on('error', reject)
      if (leaveAfterMs !== undefined) {
        setTimeout(() => {
          req.destroy()
          resolve(received)
        }, leaveAfterMs)
      }
    })
    req.on('error', (err) => {
      if (leaveAfterMs === undefined) reject(err)
      else resolve(0)
    })
    req.end()
  })

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const upstream = await startUpstream()
try {
  for (const variant of variants) {
    const lines: string[] = []
    const worker = await startGateway({
      bundle,
      bindings: { OPENAI_BASE_URL: `${upstream.url}/v1`, VARIANT: variant },
      v8Flags: v8Flags ?? [],
      onOutputLine: (line) => {
        if (v8Flags !== undefined) console.log(line)
        if (line.includes('[variant]')) lines.push(line.replace(/^.*\[variant\] /, ''))
      },
    })
    const agent = new Agent({ keepAlive: true, maxSockets: 1 })
    try {
      if (cancelling) {
        await get(worker.url, agent, { 'x-bench-bytes': '65536', 'x-bench-gap-ms': '3000' }, 300)
        await sleep(4500)
        const what = variant === 'self-cancel' ? 'cancelled in the isolate' : 'client left at 300ms'
        console.log(`${variant}: ${what}; ${lines.join('; ') || 'nothing heard'}`)
        continue
      }
      await get(worker.url, agent, { 'x-bench-bytes': '1024' })
      await sleep(200)
      await writeFile(`/proc/${worker.pid}/clear_refs`, '5')
      const baseline = status(worker.pid, 'VmRSS')
      const growth: string[] = []
      for (let i = 0; i < 10; i++) {
        const received = await get(worker.url, agent, {
          'x-bench-bytes': String(bytes),
          'x-bench-batch-bytes': process.env.RELAY_BATCH_BYTES ?? '65536',
        })
        if (received < 0.9 * bytes) throw new Error(`${variant}: only ${received} bytes arrived`)
        growth.push(`+${((status(worker.pid, 'VmHWM') - baseline) / MiB).toFixed(1)}`)
      }
      const heard = [...new Set(lines.map((line) => line.replace(/ at \d+ms$/, '')))].join('; ')
      console.log(`${variant}: ${growth.join(' ')} MiB${heard === '' ? '' : ` (${heard})`}`)
    } finally {
      agent.destroy()
      await worker.close()
    }
  }
} finally {
  await upstream.close()
}
