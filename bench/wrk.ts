/**
 * @module What the load benches (`bench/run.ts`, `bench/ab.ts`) read from wrk's report and from
 * /proc: one reading of each, so both benches count requests, errors and CPU alike.
 */
import { readFileSync } from 'node:fs'

/** CPU seconds (user + system) a process has used, from /proc/<pid>/stat in USER_HZ ticks (100
 * per second on Linux), so 10 ms resolution: fine over runs of seconds and thousands of requests. */
export function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? []
  return (Number(fields[11]) + Number(fields[12])) / 100
}

/** wrk prints latencies as `123.45us`, `1.23ms` or `1.02s`. */
export function wrkMs(text: string | undefined): number {
  const match = /^([\d.]+)(us|ms|s)$/.exec(text ?? '')
  if (!match) return Number.NaN
  const value = Number(match[1])
  return match[2] === 'us' ? value / 1000 : match[2] === 's' ? value * 1000 : value
}

/** The figures of one wrk report (`--latency`). */
export type WrkReport = {
  requests: number
  /** Non-2xx answers and socket errors (connect, read, write, timeout) together. */
  errors: number
  rps: number
  p50: number
  p99: number
  mean: number
}

export function readWrkReport(output: string): WrkReport {
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(output)?.[1] ?? 0)
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/
    .exec(output)
    ?.slice(1)
    .reduce((sum, n) => sum + Number(n), 0)
  return {
    requests: Number(/(\d+) requests in/.exec(output)?.[1] ?? Number.NaN),
    errors: non2xx + (socketErrors ?? 0),
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(output)?.[1] ?? Number.NaN),
    p50: wrkMs(/\s50%\s+(\S+)/.exec(output)?.[1]),
    p99: wrkMs(/\s99%\s+(\S+)/.exec(output)?.[1]),
    mean: wrkMs(/Latency\s+(\S+)/.exec(output)?.[1]),
  }
}

/**
 * The Lua script that makes wrk POST `body` (JSON) with `headers` and a JSON content type, for
 * `wrk -s`: what every load bench sends.
 */
export function wrkPostScript(body: string, headers: Record<string, string>): string {
  const all = { ...headers, 'content-type': 'application/json' }
  return (
    `wrk.method = "POST"\nwrk.body = ${JSON.stringify(body)}\n` +
    Object.entries(all)
      .map(([name, value]) => `wrk.headers[${JSON.stringify(name)}] = ${JSON.stringify(value)}\n`)
      .join('')
  )
}
