/**
 * The response cache in isolate memory, on an injected clock: entries live for their TTL and not
 * a millisecond more, the store keeps at most 10,000 entries (the oldest written go first), and
 * bucket candidates come back once each, at most `limit`, with their entry while it lives — a
 * vector past its TTL is no candidate and leaves its bands.
 */
import { describe, expect, it, vi } from 'vitest'
import type { CacheEntry } from '..'
import { memoryCacheStore } from './cache-store'

const entry = (body: string): CacheEntry => ({
  body,
  storedAt: 0,
  prompt: 'q',
  provider: 'openai',
  model: 'gpt-4o-mini',
  usage: undefined,
})

/** A store on a clock the test moves. */
const rig = (start = 1_000_000) => {
  let now = start
  const store = memoryCacheStore(() => now)
  return {
    store,
    advance: (ms: number) => {
      now += ms
    },
  }
}

const v = (...values: number[]): Float32Array => Float32Array.from(values)

describe('memoryCacheStore', () => {
  describe('entries', () => {
    it('should answer an entry until its TTL is over, then nothing', async () => {
      const { store, advance } = rig()
      await store.put('k', entry('a'), 60)
      expect(await store.get('k')).toEqual(entry('a'))
      advance(59_999)
      expect(await store.get('k')).toEqual(entry('a'))
      advance(1)
      expect(await store.get('k')).toBeUndefined()
    })

    it('should answer nothing for a key never written', async () => {
      expect(await rig().store.get('missing')).toBeUndefined()
    })

    it('should replace an entry and its TTL when written again', async () => {
      const { store, advance } = rig()
      await store.put('k', entry('a'), 60)
      advance(30_000)
      await store.put('k', entry('b'), 60)
      advance(45_000)
      expect(await store.get('k')).toEqual(entry('b'))
    })

    it('should remove an entry', async () => {
      const { store } = rig()
      await store.put('k', entry('a'), 60)
      await store.remove('k')
      expect(await store.get('k')).toBeUndefined()
      await store.remove('never-there')
    })

    it('should read the clock it was given, not the system’s', async () => {
      const { store, advance } = rig(0)
      const spy = vi.spyOn(Date, 'now')
      await store.put('k', entry('a'), 60)
      advance(60_000)
      expect(await store.get('k')).toBeUndefined()
      expect(spy).not.toHaveBeenCalled()
      spy.mockRestore()
    })

    it('should keep at most 10,000 entries, dropping the oldest written first', async () => {
      const { store } = rig()
      for (let i = 0; i < 10_000; i++) await store.put(`k${String(i)}`, entry(String(i)), 600)
      // Writing k0 again makes it the newest; k1 is now the oldest.
      await store.put('k0', entry('0 again'), 600)
      await store.put('k10000', entry('10000'), 600)
      expect(await store.get('k1')).toBeUndefined()
      expect(await store.get('k0')).toEqual(entry('0 again'))
      expect(await store.get('k2')).toEqual(entry('2'))
      expect(await store.get('k10000')).toEqual(entry('10000'))
    })
  })

  describe('buckets', () => {
    it('should answer each vector sharing a band once, with its live entry', async () => {
      const { store } = rig()
      await store.put('e1', entry('one'), 600)
      await store.addToBuckets('v1', ['b:1', 'b:2'], v(1, 0), 'e1', 600)
      await store.addToBuckets('v2', ['b:2', 'b:3'], v(0, 1), 'e2', 600)
      const found = await store.candidates(['b:1', 'b:2', 'b:9'], 10)
      expect(found).toEqual([
        { id: 'v1', vector: v(1, 0), entryKey: 'e1', entry: entry('one') },
        { id: 'v2', vector: v(0, 1), entryKey: 'e2', entry: undefined },
      ])
      expect(await store.candidates(['b:9'], 10)).toEqual([])
    })

    it('should answer at most `limit` candidates', async () => {
      const { store } = rig()
      for (let i = 0; i < 5; i++) {
        await store.addToBuckets(`v${String(i)}`, ['b:1'], v(i), `e${String(i)}`, 600)
      }
      expect(await store.candidates(['b:1'], 3)).toHaveLength(3)
    })

    it('should skip a vector past its TTL and drop it from its bands', async () => {
      const { store, advance } = rig()
      await store.addToBuckets('old', ['b:1'], v(1), 'e-old', 60)
      advance(30_000)
      await store.addToBuckets('new', ['b:1'], v(2), 'e-new', 60)
      advance(30_000)
      // The expired vector, first in its band, does not come back, nor count against the limit.
      expect((await store.candidates(['b:1'], 1)).map((c) => c.id)).toEqual(['new'])
      expect((await store.candidates(['b:1'], 10)).map((c) => c.id)).toEqual(['new'])
      advance(30_000)
      expect(await store.candidates(['b:1'], 10)).toEqual([])
    })

    it('should answer a live vector whose entry has expired with no entry', async () => {
      const { store, advance } = rig()
      await store.put('e', entry('x'), 60)
      await store.addToBuckets('v', ['b:1'], v(1), 'e', 600)
      advance(60_000)
      expect(await store.candidates(['b:1'], 10)).toEqual([
        { id: 'v', vector: v(1), entryKey: 'e', entry: undefined },
      ])
    })
  })
})
