/**
 * @module Types for the part of autocannon's programmatic API the benchmark uses; the package
 * ships none. Only what bench/run.ts touches is declared, so a wrong guess cannot hide elsewhere.
 */
declare module 'autocannon' {
  import type { EventEmitter } from 'node:events'

  export type Options = {
    url: string
    method?: 'GET' | 'POST'
    headers?: Record<string, string>
    body?: string
    /** Replaces each `[<id>]` in `body` with a fresh random id, per request. */
    idReplacement?: boolean
    connections?: number
    pipelining?: number
    /** Seconds. */
    duration?: number
    /** Per-request timeout in seconds. */
    timeout?: number
  }

  export type Result = {
    /** Seconds the run actually took. */
    duration: number
    errors: number
    timeouts: number
    non2xx: number
    '2xx': number
  }

  export type Instance = EventEmitter & {
    stop(): void
    /** Emitted per response; `responseTime` is in milliseconds with sub-millisecond precision. */
    on(
      event: 'response',
      listener: (client: unknown, statusCode: number, bytes: number, responseTime: number) => void,
    ): Instance
  }

  export default function autocannon(
    options: Options,
    callback: (error: Error | null, result: Result) => void,
  ): Instance
}
