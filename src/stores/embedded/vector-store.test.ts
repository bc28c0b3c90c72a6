/**
 * The semantic tier's vectors in isolate memory, filtered as Qdrant filters them: the nearest
 * point of the organisation and scope, unexpired at the time asked, at or above the threshold;
 * points of another dimension never compared; at most 5,000 points over all scopes, the oldest
 * written first out.
 */
import { describe, expect, it } from 'vitest'
import type { VectorPoint } from '..'
import { memoryVectorStore } from './vector-store'

const NOW = 1_700_000_000_000
const LATER = Math.floor(NOW / 1000) + 600

const point = (
  id: string,
  vector: number[],
  payload: Partial<VectorPoint['payload']> = {},
): VectorPoint => ({
  id,
  vector: Float32Array.from(vector),
  payload: {
    org: 'org_1',
    namespace: 'default',
    scope: 's1',
    expires_at: LATER,
    entry: `entry-${id}`,
    ...payload,
  },
})

const FILTER = { org: 'org_1', scope: 's1', now: NOW }

/** A unit vector at `cos` from (1, 0). */
const at = (cos: number): number[] => [cos, Math.sqrt(1 - cos * cos)]

describe('memoryVectorStore', () => {
  it('should answer the nearest point with its score and entry', async () => {
    const store = memoryVectorStore()
    await store.upsert(point('far', at(0.96)))
    await store.upsert(point('near', at(0.99)))
    const found = await store.nearest(Float32Array.of(1, 0), FILTER, 0.95)
    expect(found?.id).toBe('near')
    expect(found?.entry).toBe('entry-near')
    expect(found?.score).toBeCloseTo(0.99, 6)
  })

  it('should answer nothing below the threshold, and a point exactly at it', async () => {
    const store = memoryVectorStore()
    await store.upsert(point('p', [1, 1]))
    // cos((1, 0), (1, 1)) = 1/√2.
    const score = 1 / Math.sqrt(2)
    expect(await store.nearest(Float32Array.of(1, 0), FILTER, score + 1e-6)).toBeUndefined()
    expect((await store.nearest(Float32Array.of(1, 0), FILTER, score - 1e-6))?.id).toBe('p')
    expect((await store.nearest(Float32Array.of(1, 1), FILTER, 1 - 1e-9))?.id).toBe('p')
  })

  it('should only answer points of the organisation asked for', async () => {
    const store = memoryVectorStore()
    await store.upsert(point('other', [1, 0], { org: 'org_2' }))
    expect(await store.nearest(Float32Array.of(1, 0), FILTER, 0.5)).toBeUndefined()
    await store.upsert(point('mine', at(0.9)))
    expect((await store.nearest(Float32Array.of(1, 0), FILTER, 0.5))?.id).toBe('mine')
  })

  it('should only answer points of the scope asked for', async () => {
    const store = memoryVectorStore()
    await store.upsert(point('other', [1, 0], { scope: 's2' }))
    expect(await store.nearest(Float32Array.of(1, 0), FILTER, 0.5)).toBeUndefined()
    expect((await store.nearest(Float32Array.of(1, 0), { ...FILTER, scope: 's2' }, 0.5))?.id).toBe(
      'other',
    )
  })

  it('should skip a point expired at the time asked', async () => {
    const store = memoryVectorStore()
    const seconds = Math.floor(NOW / 1000)
    await store.upsert(point('gone', [1, 0], { expires_at: seconds }))
    await store.upsert(point('live', at(0.9), { expires_at: seconds + 1 }))
    expect((await store.nearest(Float32Array.of(1, 0), FILTER, 0.5))?.id).toBe('live')
    expect(
      await store.nearest(Float32Array.of(1, 0), { ...FILTER, now: NOW + 1000 }, 0.5),
    ).toBeUndefined()
  })

  it('should never compare a point of another dimension', async () => {
    const store = memoryVectorStore()
    await store.upsert(point('three', [1, 0, 0]))
    expect(await store.nearest(Float32Array.of(1, 0), FILTER, 0)).toBeUndefined()
  })

  it('should replace a point written again under its id, and remove one', async () => {
    const store = memoryVectorStore()
    await store.upsert(point('p', [1, 0]))
    await store.upsert(point('p', [0, 1]))
    expect(await store.nearest(Float32Array.of(1, 0), FILTER, 0.5)).toBeUndefined()
    expect((await store.nearest(Float32Array.of(0, 1), FILTER, 0.5))?.id).toBe('p')
    await store.remove('p')
    expect(await store.nearest(Float32Array.of(0, 1), FILTER, 0.5)).toBeUndefined()
  })

  it('should keep at most 5,000 points, dropping the oldest written first', async () => {
    const store = memoryVectorStore()
    // Point i lies in its own scope, so each is found alone.
    for (let i = 0; i <= 5000; i++) {
      await store.upsert(point(`p${String(i)}`, [1, 0], { scope: `s${String(i)}` }))
    }
    const find = (i: number) =>
      store.nearest(Float32Array.of(1, 0), { ...FILTER, scope: `s${String(i)}` }, 0.5)
    expect(await find(0)).toBeUndefined()
    expect((await find(1))?.id).toBe('p1')
    expect((await find(5000))?.id).toBe('p5000')
  })

  it('should move a point rewritten into another scope, and count every scope toward the limit', async () => {
    const store = memoryVectorStore()
    await store.upsert(point('p', [1, 0], { scope: 's1' }))
    await store.upsert(point('p', [1, 0], { scope: 's2' }))
    expect(await store.nearest(Float32Array.of(1, 0), FILTER, 0.5)).toBeUndefined()
    const inS2 = { ...FILTER, scope: 's2' }
    expect((await store.nearest(Float32Array.of(1, 0), inS2, 0.5))?.id).toBe('p')
    // 5,000 more points in s1: `p`, in s2 and the oldest, is the one dropped.
    for (let i = 0; i < 5000; i++) await store.upsert(point(`q${String(i)}`, at(0.9)))
    expect(await store.nearest(Float32Array.of(1, 0), inS2, 0.5)).toBeUndefined()
    expect((await store.nearest(Float32Array.of(1, 0), FILTER, 0.5))?.id).toBe('q0')
  })
})
