/**
 * @module Gathers the request log records of one isolate into Queue batches: one `sendBatch` for
 * the records of many requests instead of one `send` each (a Queue send is a subrequest; under
 * load it was the producer's largest cost).
 *
 * A record waits at most `maxWaitMs` for company; a batch takes no more once it holds
 * `maxRecords` or would pass `maxBytes` (Cloudflare Queues: 100 messages and 256 KB per
 * `sendBatch`), and leaves at its wait. A record that comes more than `maxWaitMs` after the one
 * before (sparse traffic) opens a batch that leaves at once, on the next turn of the event loop:
 * it would wait alone, holding its request, and its send would meet a later request instead of
 * running between them.
 *
 * The `add` that opens a batch owns it: it gets the batch's send as a promise, which the producer
 * awaits inside `waitUntil`, so the request that opened the batch — and with it the isolate —
 * stays alive until every record in it has left; batching loses nothing an unbatched send would
 * not. An `add` that joins an open batch gets `undefined` and its request waits for nothing:
 * in workerd, a request must not wait on I/O another request started (it would hang, or fail with
 * "Cannot perform I/O on behalf of a different request", if that request ended first). For the
 * same reason only the owner starts the send — from its own `add` (a batch of one) or from the
 * timer it set — never a joining `add` that fills the batch: that one only closes it, or the
 * `sendBatch` would belong to the joiner's request while the owner's waits on it. A failed send
 * rejects the owner's promise with a `BatchSendError` naming how many records it carried.
 */

/** A batch's send failed; `records` records were in it. */
export class BatchSendError extends Error {
  override readonly name = 'BatchSendError'
  constructor(
    readonly records: number,
    options?: { cause?: unknown },
  ) {
    super(`a batch of ${String(records)} records could not be sent`, options)
  }
}

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
  now: () => number = Date.now,
): ((item: T, bytes: number) => Promise<void> | undefined) => {
  let open: Pending<T> | undefined

  /** The batch takes no more items; its timer sends it. */
  const close = (batch: Pending<T>): void => {
    if (open === batch) open = undefined
  }

  /** Sends the batch now: only ever from the add that opened it, or from its timer. */
  const flush = (batch: Pending<T>): void => {
    close(batch)
    if (batch.timer !== undefined) clearTimeout(batch.timer)
    batch.release()
  }

  /** When the last record came: a batch opened after a longer pause than its wait leaves at once. */
  let lastAddAt: number | undefined

  const start = (wait: number): Pending<T> => {
    let release: () => void = () => undefined
    const gate = new Promise<void>((resolve) => {
      release = resolve
    })
    const batch: Pending<T> = { items: [], bytes: 0, timer: undefined, done: gate, release }
    batch.done = gate.then(() =>
      send(batch.items).catch((err: unknown) => {
        throw new BatchSendError(batch.items.length, { cause: err })
      }),
    )
    batch.timer = setTimeout(() => {
      flush(batch)
    }, wait)
    return batch
  }

  return (item, bytes) => {
    // Another request's batch is closed, never sent, from here: see the module doc.
    if (open !== undefined && open.bytes + bytes > options.maxBytes) close(open)
    const at = now()
    // Records further apart than the wait would not share a batch anyway: waiting would only hold
    // this one (and its request) back, and its send could meet the next request.
    const sparse = lastAddAt !== undefined && at - lastAddAt > options.maxWaitMs
    lastAddAt = at
    const owner = open === undefined
    const batch = (open ??= start(sparse ? 0 : options.maxWaitMs))
    batch.items.push(item)
    batch.bytes += bytes
    if (batch.items.length >= options.maxRecords) {
      if (owner) flush(batch)
      else close(batch)
    }
    return owner ? batch.done : undefined
  }
}
