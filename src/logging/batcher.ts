/**
 * @module Gathers the request log records of one isolate into Queue batches: one `sendBatch` for
 * the records of many requests instead of one `send` each (a Queue send is a subrequest; under
 * load it was the producer's largest cost).
 *
 * A record waits at most `maxWaitMs` for company; a batch leaves as soon as it holds `maxRecords`
 * or would pass `maxBytes` (Cloudflare Queues: 100 messages and 256 KB per `sendBatch`). Every
 * `add` resolves or rejects with its batch's send, and the producer awaits it inside `waitUntil`,
 * so the isolate stays alive until its records have left — batching loses nothing an
 * unbatched send would not.
 */

export type BatchSender<T> = (items: readonly T[]) => Promise<void>

export type BatcherOptions = {
  readonly maxRecords: number
  readonly maxBytes: number
  readonly maxWaitMs: number
}

export const QUEUE_BATCH_LIMITS: BatcherOptions = {
  maxRecords: 100,
  // Under the 256 KB per-batch limit, leaving room for per-message overhead.
  maxBytes: 200 * 1024,
  maxWaitMs: 25,
}

type Pending<T> = {
  items: T[]
  bytes: number
  timer: ReturnType<typeof setTimeout> | undefined
  done: Promise<void>
  release: () => void
}

export const createBatcher = <T>(
  send: BatchSender<T>,
  options: BatcherOptions = QUEUE_BATCH_LIMITS,
): ((item: T, bytes: number) => Promise<void>) => {
  let open: Pending<T> | undefined

  const flush = (batch: Pending<T>): void => {
    if (open === batch) open = undefined
    if (batch.timer !== undefined) clearTimeout(batch.timer)
    batch.release()
  }

  const start = (): Pending<T> => {
    let release: () => void = () => undefined
    const gate = new Promise<void>((resolve) => {
      release = resolve
    })
    const batch: Pending<T> = { items: [], bytes: 0, timer: undefined, done: gate, release }
    batch.done = gate.then(() => send(batch.items))
    batch.timer = setTimeout(() => {
      flush(batch)
    }, options.maxWaitMs)
    return batch
  }

  return (item, bytes) => {
    if (open !== undefined && open.bytes + bytes > options.maxBytes) flush(open)
    const batch = (open ??= start())
    batch.items.push(item)
    batch.bytes += bytes
    if (batch.items.length >= options.maxRecords) flush(batch)
    return batch.done
  }
}
