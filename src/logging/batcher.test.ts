/**
 * The request log's batcher: records of concurrent requests leave in one batch; a batch closes at
 * its record or byte limit and leaves after its wait, sent by the add that opened it — never by an
 * add that joined (in workerd that send would belong to another request); the add that opened a
 * batch gets its send (a failure included, naming the records lost), so the producer's waitUntil
 * covers it; adds that joined get nothing to wait for.
 */
import { describe, expect, it } from 'vitest'
import { BatchSendError, createBatcher } from './batcher'

const recorder = () => {
  const sent: number[][] = []
  let fail = false
  const send = (items: readonly number[]): Promise<void> => {
    sent.push([...items])
    return fail ? Promise.reject(new Error('queue unavailable')) : Promise.resolve()
  }
  return {
    sent,
    send,
    failing: () => {
      fail = true
    },
  }
}

describe('createBatcher', () => {
  it('should send the records added within the wait as one batch', async () => {
    const r = recorder()
    const add = createBatcher(r.send, { maxRecords: 100, maxBytes: 1_000, maxWaitMs: 5 })
    await Promise.all([add(1, 10), add(2, 10), add(3, 10)])
    expect(r.sent).toEqual([[1, 2, 3]])
  })

  it('should close a batch at the record limit and send it at its wait, not from a joiner', async () => {
    const r = recorder()
    const add = createBatcher(r.send, { maxRecords: 2, maxBytes: 1_000, maxWaitMs: 30 })
    const first = add(1, 1)
    expect(add(2, 1)).toBeUndefined() // fills the batch: closes it, sends nothing
    expect(r.sent).toEqual([])
    const third = add(3, 1) // the closed batch takes no more: this one opens the next
    expect(third).toBeInstanceOf(Promise)
    await new Promise((resolve) => setTimeout(resolve, 0))
    expect(r.sent).toEqual([])
    await first
    expect(r.sent).toEqual([[1, 2]])
    await third
    expect(r.sent).toEqual([[1, 2], [3]])
  })

  it('should send at once a batch its opener filled', async () => {
    const r = recorder()
    const add = createBatcher(r.send, { maxRecords: 1, maxBytes: 1_000, maxWaitMs: 60_000 })
    await add(1, 1)
    expect(r.sent).toEqual([[1]])
  })

  it('should start a new batch rather than pass the byte limit', async () => {
    const r = recorder()
    const add = createBatcher(r.send, { maxRecords: 100, maxBytes: 100, maxWaitMs: 5 })
    await Promise.all([add(1, 60), add(2, 30), add(3, 30), add(4, 10)])
    expect(r.sent).toEqual([
      [1, 2],
      [3, 4],
    ])
  })

  it("should give the batch's send to the add that opened it, and nothing to those that joined", async () => {
    const r = recorder()
    const add = createBatcher(r.send, { maxRecords: 2, maxBytes: 1_000, maxWaitMs: 5 })
    const opener = add(1, 1)
    expect(opener).toBeInstanceOf(Promise)
    expect(add(2, 1)).toBeUndefined() // joined, and filled the batch: it leaves now
    await opener
    expect(r.sent).toEqual([[1, 2]])
    const next = add(3, 1) // opens the next batch
    expect(next).toBeInstanceOf(Promise)
    await next
    expect(r.sent).toEqual([[1, 2], [3]])
  })

  it("should reject the opener's promise naming the records of a batch whose send failed", async () => {
    const r = recorder()
    const add = createBatcher(r.send, { maxRecords: 100, maxBytes: 1_000, maxWaitMs: 5 })
    r.failing()
    const opener = add(1, 1)
    expect(add(2, 1)).toBeUndefined()
    const error = await opener?.catch((err: unknown) => err)
    expect(error).toBeInstanceOf(BatchSendError)
    expect(error).toMatchObject({ records: 2, cause: new Error('queue unavailable') })
    expect(r.sent).toEqual([[1, 2]])
  })

  it('should send at once a batch opened after a pause longer than the wait', async () => {
    const r = recorder()
    let clock = 1_000
    const add = createBatcher(r.send, { maxRecords: 100, maxBytes: 1_000, maxWaitMs: 200 }, () => {
      return clock
    })
    const turn = () => new Promise((resolve) => setTimeout(resolve, 0))
    await add(1, 1) // the first record waits the whole wait
    clock += 10
    const close = add(2, 1) // 10 ms after the one before: the whole wait too
    await turn()
    expect(r.sent).toEqual([[1]])
    await close
    expect(r.sent).toEqual([[1], [2]])
    clock += 201 // longer than the wait since the record before
    const sparse = add(3, 1)
    await turn() // its timer, set first, has run: it waited for nothing
    expect(r.sent).toEqual([[1], [2], [3]])
    await sparse
  })

  it('should send after the wait even when alone', async () => {
    const r = recorder()
    const add = createBatcher(r.send, { maxRecords: 100, maxBytes: 1_000, maxWaitMs: 5 })
    await add(7, 1)
    expect(r.sent).toEqual([[7]])
  })
})
