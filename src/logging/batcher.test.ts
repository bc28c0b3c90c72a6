/**
 * The request log's batcher: records of concurrent requests leave in one batch; a batch leaves at
 * its record or byte limit or after its wait; every add settles with its own batch's send, a
 * failure included, so the producer's waitUntil covers the send.
 */
import { describe, expect, it } from 'vitest'
import { createBatcher } from './batcher'

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

  it('should send a batch as soon as it holds the record limit', async () => {
    const r = recorder()
    const add = createBatcher(r.send, { maxRecords: 2, maxBytes: 1_000, maxWaitMs: 60_000 })
    const first = [add(1, 1), add(2, 1)]
    await Promise.all(first)
    expect(r.sent).toEqual([[1, 2]])
    const third = add(3, 1)
    expect(r.sent).toHaveLength(1)
    await Promise.race([third, new Promise((resolve) => setTimeout(resolve, 20))])
    expect(r.sent).toHaveLength(1) // still waiting for company, up to maxWaitMs
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

  it('should reject every add of a batch whose send failed, and recover for the next', async () => {
    const r = recorder()
    const add = createBatcher(r.send, { maxRecords: 100, maxBytes: 1_000, maxWaitMs: 5 })
    r.failing()
    const results = await Promise.allSettled([add(1, 1), add(2, 1)])
    expect(results.map((result) => result.status)).toEqual(['rejected', 'rejected'])
    expect(r.sent).toEqual([[1, 2]])
  })

  it('should send after the wait even when alone', async () => {
    const r = recorder()
    const add = createBatcher(r.send, { maxRecords: 100, maxBytes: 1_000, maxWaitMs: 5 })
    await add(7, 1)
    expect(r.sent).toEqual([[7]])
  })
})
