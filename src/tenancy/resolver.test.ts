/**
 * Proves the key resolver's chain and failure policy with counting fakes for both stores and a
 * hand-moved clock: malformed keys cost no I/O, the memo spares both stores until it expires or
 * the config epoch moves, a cached config counts only under the current epoch, the cache fill is
 * handed to `schedule` tagged with the epoch read before the lookup, and an unreachable config
 * store yields the last known answer within its grace period (never extended) or a 503.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { GatewayError } from '../errors'
import { generateApiKey, hashApiKey } from '../security/api-key'
import type {
  Admission,
  CachedConfig,
  CachedName,
  KeyStore,
  LimitResult,
  SharedState,
} from '../stores'
import { DEV_KEY_CONFIG } from '../stores/embedded/key-store'
import { createKeyResolver, MEMO_TTL_MS, STALE_GRACE_MS, type KeyResolver } from './resolver'
import { parseKeyConfig, type KeyConfigJson } from './tenant'

/** How long a refused key's answer is memoised (`REFUSED_TTL_MS` in the module). */
const REFUSED_TTL_MS = 10_000
const START = 1_750_000_000_000

/** A valid document for `keyId`, otherwise the dev key's. */
const documentFor = (keyId: string, plan = 'dev'): KeyConfigJson => ({
  ...DEV_KEY_CONFIG,
  key: { ...DEV_KEY_CONFIG.key, id: keyId },
  org: { ...DEV_KEY_CONFIG.org, plan },
})

/** A config store that answers from `documents` by hash, counts lookups and can be made to fail. */
class FakeKeyStore implements KeyStore {
  readonly documents = new Map<string, unknown>()
  readonly lookups: string[] = []
  failure: Error | undefined
  /** Runs during a lookup, before it answers (to interleave another event with it). */
  during: (() => void) | undefined

  lookup(keyHash: string): Promise<unknown> {
    this.lookups.push(keyHash)
    this.during?.()
    if (this.failure !== undefined) return Promise.reject(this.failure)
    return Promise.resolve(this.documents.get(keyHash) ?? null)
  }
}

/** The key hash a key cache entry is stored under (the fake keeps entries by hash). */
const hashOf = (name: CachedName): string => {
  if (name.kind !== 'key') throw new Error(`the key resolver read a ${name.kind} entry`)
  return name.keyHash
}

/** Shared state with a key cache and an epoch; counts reads and writes and can be made to fail. */
class FakeSharedState implements SharedState {
  epoch = 0
  readonly cache = new Map<string, CachedConfig>()
  readonly reads: string[] = []
  readonly writes: { keyHash: string; entry: CachedConfig }[] = []
  readFailure: Error | undefined
  writeFailure: Error | undefined

  readCached(name: CachedName): Promise<{ cached: CachedConfig | undefined; epoch: number }> {
    const keyHash = hashOf(name)
    this.reads.push(keyHash)
    if (this.readFailure !== undefined) return Promise.reject(this.readFailure)
    return Promise.resolve({ cached: this.cache.get(keyHash), epoch: this.epoch })
  }

  writeCached(name: CachedName, entry: CachedConfig): Promise<void> {
    const keyHash = hashOf(name)
    this.writes.push({ keyHash, entry })
    if (this.writeFailure !== undefined) return Promise.reject(this.writeFailure)
    this.cache.set(keyHash, entry)
    return Promise.resolve()
  }

  admit(): Promise<Admission> {
    return Promise.reject(new Error('not used by the resolver'))
  }

  releaseQuota(): Promise<void> {
    return Promise.reject(new Error('not used by the resolver'))
  }

  limitIp(): Promise<LimitResult> {
    return Promise.reject(new Error('not used by the resolver'))
  }
}

type Rig = {
  keys: FakeKeyStore
  state: FakeSharedState
  resolver: KeyResolver
  /** Work handed to `schedule`, in order. */
  scheduled: Promise<unknown>[]
  resolve: (
    presented: string,
    options?: { revalidate?: boolean },
  ) => ReturnType<KeyResolver['resolve']>
  /** Moves the clock to `ms` after the start. */
  at: (ms: number) => void
  /** Store calls so far: [shared-state reads, config-store lookups]. */
  calls: () => [number, number]
  /** Waits for the scheduled work (the cache fills) to finish. */
  settle: () => Promise<unknown[]>
}

const rig = (): Rig => {
  const keys = new FakeKeyStore()
  const state = new FakeSharedState()
  let clock = START
  const resolver = createKeyResolver({ keys, state, now: () => clock })
  const scheduled: Promise<unknown>[] = []
  const schedule = (work: Promise<unknown>): void => {
    scheduled.push(work)
  }
  return {
    keys,
    state,
    resolver,
    scheduled,
    resolve: (presented, options) =>
      options === undefined
        ? resolver.resolve(presented, schedule)
        : resolver.resolve(presented, schedule, options),
    at: (ms) => {
      clock = START + ms
    },
    calls: () => [state.reads.length, keys.lookups.length],
    settle: () => Promise.all(scheduled),
  }
}

/** A fresh valid key registered in the rig's config store, and its hash. */
const register = async (
  r: Rig,
  document: unknown = documentFor('key_1'),
): Promise<{ key: string; hash: string }> => {
  const key = generateApiKey('live')
  const hash = await hashApiKey(key)
  r.keys.documents.set(hash, document)
  return { key, hash }
}

/** The error `work` rejects with; fails the test when it resolves. */
const rejection = async (work: Promise<unknown>): Promise<unknown> => {
  try {
    await work
  } catch (err) {
    return err
  }
  throw new Error('expected a rejection')
}

const expectAuthUnavailable = async (work: Promise<unknown>): Promise<void> => {
  const err = await rejection(work)
  expect(err).toBeInstanceOf(GatewayError)
  if (!(err instanceof GatewayError)) return
  expect(err.code).toBe('AUTH_UNAVAILABLE')
  expect(err.status).toBe(503)
  expect(Number(err.headers['retry-after'])).toBeGreaterThanOrEqual(1)
}

beforeEach(() => {
  // The resolver's alarm lines are expected here; keep them out of the test output.
  vi.spyOn(console, 'error').mockImplementation(() => undefined)
})

afterEach(() => {
  vi.restoreAllMocks()
})

describe('createKeyResolver: malformed keys', () => {
  it.each([
    ['an empty string', ''],
    ['a provider key', 'sk-proj-abcdefghijklmnopqrstuvwxyz0123456789abcdefghijk'],
    ['a truncated key', generateApiKey('live').slice(0, 52)],
    ['a key with an extra character', `${generateApiKey('live')}0`],
    ['a key in upper case', generateApiKey('live').toUpperCase()],
  ])('should refuse %s with no store call', async (_name, presented) => {
    const r = rig()
    expect(await r.resolve(presented)).toBeUndefined()
    expect(r.calls()).toStrictEqual([0, 0])
    expect(r.scheduled).toHaveLength(0)
  })

  it('should refuse a key with a wrong checksum with no store call, every time', async () => {
    const r = rig()
    const { key } = await register(r)
    const typo = `${key.slice(0, -1)}${key.endsWith('0') ? '1' : '0'}`
    for (let i = 0; i < 3; i++) expect(await r.resolve(typo)).toBeUndefined()
    expect(await r.resolve(typo, { revalidate: true })).toBeUndefined()
    expect(r.calls()).toStrictEqual([0, 0])
  })
})

describe('createKeyResolver: lookups', () => {
  it("should answer a known key with its tenant, asking both stores with the key's hash", async () => {
    const r = rig()
    const { key, hash } = await register(r)
    expect(await r.resolve(key)).toStrictEqual(parseKeyConfig(documentFor('key_1')))
    expect(r.state.reads).toStrictEqual([hash])
    expect(r.keys.lookups).toStrictEqual([hash])
  })

  it('should answer a well-formed key the config store does not know with undefined', async () => {
    const r = rig()
    const unknown = generateApiKey('test')
    expect(await r.resolve(unknown)).toBeUndefined()
    expect(r.keys.lookups).toStrictEqual([await hashApiKey(unknown)])
  })
})

describe('createKeyResolver: memo', () => {
  it('should answer again from the memo with no store call', async () => {
    const r = rig()
    const { key } = await register(r)
    const first = await r.resolve(key)
    r.at(MEMO_TTL_MS - 1)
    expect(await r.resolve(key)).toBe(first)
    expect(r.calls()).toStrictEqual([1, 1])
  })

  it('should read shared state again once the memo expires', async () => {
    const r = rig()
    const { key, hash } = await register(r)
    await r.resolve(key)
    await r.settle()
    r.at(MEMO_TTL_MS)
    expect((await r.resolve(key))?.keyId).toBe('key_1')
    // The fill cached the config under the current epoch: shared state answers this time.
    expect(r.calls()).toStrictEqual([2, 1])

    r.state.cache.delete(hash)
    r.keys.documents.set(hash, documentFor('key_1', 'pro'))
    r.at(2 * MEMO_TTL_MS)
    expect((await r.resolve(key))?.org.plan).toBe('pro')
    expect(r.calls()).toStrictEqual([3, 2])
  })

  it('should keep one memo entry per presented key', async () => {
    const r = rig()
    const one = await register(r, documentFor('key_1'))
    const two = await register(r, documentFor('key_2'))
    expect((await r.resolve(one.key))?.keyId).toBe('key_1')
    expect((await r.resolve(two.key))?.keyId).toBe('key_2')
    expect((await r.resolve(one.key))?.keyId).toBe('key_1')
    expect(r.calls()).toStrictEqual([2, 2])
  })

  it('should memoise a refused key for a shorter time than an accepted one', async () => {
    const r = rig()
    const { key: accepted } = await register(r)
    const refused = generateApiKey('live')
    await r.resolve(accepted)
    expect(await r.resolve(refused)).toBeUndefined()
    expect(r.calls()).toStrictEqual([2, 2])

    r.at(REFUSED_TTL_MS - 1)
    await r.resolve(refused)
    await r.resolve(accepted)
    expect(r.calls()).toStrictEqual([2, 2])

    r.at(REFUSED_TTL_MS)
    await r.resolve(accepted)
    expect(r.calls()).toStrictEqual([2, 2])
    await r.resolve(refused)
    expect(r.state.reads).toHaveLength(3)
  })

  it('should accept a key issued after it was refused once the refusal expires', async () => {
    const r = rig()
    const key = generateApiKey('live')
    const hash = await hashApiKey(key)
    expect(await r.resolve(key)).toBeUndefined()
    await r.settle()
    // The admin CLI issues the key and bumps the cached refusal out (a new epoch).
    r.keys.documents.set(hash, documentFor('key_new'))
    r.state.epoch = 1
    r.at(REFUSED_TTL_MS)
    expect((await r.resolve(key))?.keyId).toBe('key_new')
  })

  it('should bypass the memo when asked to revalidate, and keep the fresh answer', async () => {
    const r = rig()
    const { key, hash } = await register(r)
    await r.resolve(key)
    await r.settle()
    r.state.cache.set(hash, { epoch: 0, config: documentFor('key_1', 'pro') })

    expect((await r.resolve(key))?.org.plan).toBe('dev')
    expect(r.calls()).toStrictEqual([1, 1])
    expect((await r.resolve(key, { revalidate: true }))?.org.plan).toBe('pro')
    expect(r.calls()).toStrictEqual([2, 1])
    expect((await r.resolve(key))?.org.plan).toBe('pro')
    expect(r.calls()).toStrictEqual([2, 1])
  })

  it('should use the memo when revalidate is false', async () => {
    const r = rig()
    const { key } = await register(r)
    await r.resolve(key)
    await r.resolve(key, { revalidate: false })
    expect(r.calls()).toStrictEqual([1, 1])
  })

  it('should forget the oldest refused key when 1,000 are memoised', async () => {
    const r = rig()
    const refused = Array.from({ length: 1_001 }, () => generateApiKey('live'))
    for (const key of refused) await r.resolve(key)
    expect(r.state.reads).toHaveLength(1_001)
    await r.resolve(refused[1_000] ?? '')
    expect(r.state.reads).toHaveLength(1_001)
    await r.resolve(refused[0] ?? '')
    expect(r.state.reads).toHaveLength(1_002)
  })
})

describe('createKeyResolver: epoch', () => {
  it('should report true from observeEpoch only when the epoch changes', () => {
    const { resolver } = rig()
    expect(resolver.observeEpoch(0)).toBe(false)
    expect(resolver.observeEpoch(1)).toBe(true)
    expect(resolver.observeEpoch(1)).toBe(false)
    expect(resolver.observeEpoch(5)).toBe(true)
    expect(resolver.observeEpoch(5)).toBe(false)
    expect(resolver.observeEpoch(2)).toBe(true)
  })

  it('should not memoise a document read before an epoch change as current', async () => {
    const r = rig()
    const { key, hash } = await register(r)
    // The key is revoked while its (already answered) lookup is in flight, and another request
    // sees the new epoch before this one memoises the old answer.
    r.keys.during = () => {
      r.keys.during = undefined
      r.state.epoch = 1
      r.resolver.observeEpoch(1)
    }
    expect((await r.resolve(key))?.keyId).toBe('key_1')
    r.keys.documents.set(hash, null)
    expect(await r.resolve(key)).toBeUndefined()
  })

  it('should learn the epoch from the key read', async () => {
    const r = rig()
    const { key } = await register(r)
    r.state.epoch = 3
    await r.resolve(key)
    expect(r.resolver.observeEpoch(3)).toBe(false)
    expect(r.resolver.observeEpoch(4)).toBe(true)
  })

  it('should check a memoised key again on its next use after the epoch moves', async () => {
    const r = rig()
    const { key, hash } = await register(r)
    expect((await r.resolve(key))?.keyId).toBe('key_1')
    await r.settle()

    // The admin CLI revokes the key: the store forgets it and the epoch moves.
    r.keys.documents.delete(hash)
    r.state.epoch = 1
    expect(r.resolver.observeEpoch(1)).toBe(true)
    r.at(1)
    expect(await r.resolve(key)).toBeUndefined()
    expect(r.calls()).toStrictEqual([2, 2])
    // Memoised again under the new epoch.
    expect(await r.resolve(key)).toBeUndefined()
    expect(r.calls()).toStrictEqual([2, 2])
  })

  it('should use a cached config written under the current epoch without the config store', async () => {
    const r = rig()
    const { key, hash } = await register(r, documentFor('key_1', 'store'))
    r.state.epoch = 4
    r.state.cache.set(hash, { epoch: 4, config: documentFor('key_1', 'cache') })
    expect((await r.resolve(key))?.org.plan).toBe('cache')
    expect(r.keys.lookups).toHaveLength(0)
    expect(r.scheduled).toHaveLength(0)
  })

  it.each([3, 5])(
    'should ask the config store when the cached config was written under epoch %d, not 4',
    async (cachedEpoch) => {
      const r = rig()
      const { key, hash } = await register(r, documentFor('key_1', 'store'))
      r.state.epoch = 4
      r.state.cache.set(hash, { epoch: cachedEpoch, config: documentFor('key_1', 'cache') })
      expect((await r.resolve(key))?.org.plan).toBe('store')
      expect(r.keys.lookups).toStrictEqual([hash])
      await r.settle()
      expect(r.state.cache.get(hash)).toStrictEqual({
        epoch: 4,
        config: documentFor('key_1', 'store'),
      })
    },
  )

  it('should answer a cached refusal (null) under the current epoch without the config store', async () => {
    const r = rig()
    const { key, hash } = await register(r)
    r.state.cache.set(hash, { epoch: 0, config: null })
    expect(await r.resolve(key)).toBeUndefined()
    expect(r.keys.lookups).toHaveLength(0)
  })

  it('should ignore a malformed cached config and ask the config store', async () => {
    const r = rig()
    const { key, hash } = await register(r)
    r.state.cache.set(hash, { epoch: 0, config: { key: 'garbage' } })
    expect((await r.resolve(key))?.keyId).toBe('key_1')
    expect(r.keys.lookups).toStrictEqual([hash])
    await r.settle()
    expect(r.state.cache.get(hash)?.config).toStrictEqual(documentFor('key_1'))
  })
})

describe('createKeyResolver: cache fill', () => {
  it("should hand the fill to schedule, tagged with the epoch and the store's document", async () => {
    const r = rig()
    const { key, hash } = await register(r)
    r.state.epoch = 7
    await r.resolve(key)
    expect(r.scheduled).toHaveLength(1)
    await r.settle()
    expect(r.state.writes).toStrictEqual([
      { keyHash: hash, entry: { epoch: 7, config: documentFor('key_1') } },
    ])
  })

  it('should cache a refusal as null', async () => {
    const r = rig()
    const unknown = generateApiKey('test')
    await r.resolve(unknown)
    await r.settle()
    expect(r.state.writes).toStrictEqual([
      { keyHash: await hashApiKey(unknown), entry: { epoch: 0, config: null } },
    ])
  })

  it('should tag the fill with the epoch read before the lookup, not one seen during it', async () => {
    const r = rig()
    const { key } = await register(r)
    r.state.epoch = 7
    r.keys.during = () => {
      // A change lands while the config store is answering; another request sees it.
      r.state.epoch = 8
      r.resolver.observeEpoch(8)
    }
    await r.resolve(key)
    await r.settle()
    expect(r.state.writes.map((w) => w.entry.epoch)).toStrictEqual([7])
  })

  it('should not reject the scheduled work when the cache write fails', async () => {
    const r = rig()
    const { key } = await register(r)
    r.state.writeFailure = new Error('redis write timeout')
    expect((await r.resolve(key))?.keyId).toBe('key_1')
    expect(r.scheduled).toHaveLength(1)
    await expect(r.settle()).resolves.toStrictEqual([undefined])
    expect(r.state.writes).toHaveLength(1)
  })
})

describe('createKeyResolver: shared state unreachable', () => {
  it('should still ask the config store', async () => {
    const r = rig()
    const { key, hash } = await register(r)
    r.state.readFailure = new Error('ECONNREFUSED')
    expect(await r.resolve(key)).toStrictEqual(parseKeyConfig(documentFor('key_1')))
    expect(r.keys.lookups).toStrictEqual([hash])
  })

  it('should still refuse an unknown key rather than fail', async () => {
    const r = rig()
    r.state.readFailure = new Error('ECONNREFUSED')
    expect(await r.resolve(generateApiKey('live'))).toBeUndefined()
  })

  it('should tag the fill with the last epoch it observed', async () => {
    const r = rig()
    const { key } = await register(r)
    r.resolver.observeEpoch(6)
    r.state.readFailure = new Error('ECONNREFUSED')
    await r.resolve(key)
    await r.settle()
    expect(r.state.writes.map((w) => w.entry.epoch)).toStrictEqual([6])
  })
})

describe('createKeyResolver: config store unreachable', () => {
  it('should throw AUTH_UNAVAILABLE with retry-after when nothing is memoised', async () => {
    const r = rig()
    const { key } = await register(r)
    r.keys.failure = new Error('supabase: 503')
    await expectAuthUnavailable(r.resolve(key))
    expect(r.scheduled).toHaveLength(0)
  })

  it('should throw AUTH_UNAVAILABLE when both stores are unreachable', async () => {
    const r = rig()
    const { key } = await register(r)
    r.keys.failure = new Error('supabase: 503')
    r.state.readFailure = new Error('ECONNREFUSED')
    await expectAuthUnavailable(r.resolve(key))
  })

  it('should not remember the failure: the key is accepted as soon as the store is back', async () => {
    const r = rig()
    const { key } = await register(r)
    r.keys.failure = new Error('supabase: 503')
    await expectAuthUnavailable(r.resolve(key))
    r.keys.failure = undefined
    expect((await r.resolve(key))?.keyId).toBe('key_1')
    expect(r.keys.lookups).toHaveLength(2)
  })

  it.each<[string, unknown]>([
    ['an empty object', {}],
    ['a string', 'key_1'],
    [
      'a document with a negative limit',
      { ...documentFor('key_1'), key: { ...DEV_KEY_CONFIG.key, rpm_limit: -1 } },
    ],
    ['a document without routing rules', { ...documentFor('key_1'), routing_rules: undefined }],
  ])('should throw AUTH_UNAVAILABLE when the store answers %s', async (_name, document) => {
    const r = rig()
    const { key } = await register(r, document)
    await expectAuthUnavailable(r.resolve(key))
    expect(r.scheduled).toHaveLength(0)
  })

  it('should serve the last known answer while both stores are unreachable', async () => {
    const r = rig()
    const { key } = await register(r)
    const known = await r.resolve(key)
    r.keys.failure = new Error('supabase: 503')
    r.state.readFailure = new Error('ECONNREFUSED')
    r.at(MEMO_TTL_MS)
    expect(await r.resolve(key)).toBe(known)
    expect(r.keys.lookups).toHaveLength(2)
  })

  it('should serve the last known answer when only the config store is unreachable', async () => {
    const r = rig()
    const { key, hash } = await register(r)
    const known = await r.resolve(key)
    await r.settle()
    r.state.cache.delete(hash)
    r.keys.failure = new Error('supabase: 503')
    r.at(MEMO_TTL_MS)
    expect(await r.resolve(key)).toBe(known)
  })

  it('should serve a last known refusal as a refusal, not a 503', async () => {
    const r = rig()
    const unknown = generateApiKey('live')
    expect(await r.resolve(unknown)).toBeUndefined()
    r.keys.failure = new Error('supabase: 503')
    r.state.readFailure = new Error('ECONNREFUSED')
    r.at(REFUSED_TTL_MS)
    expect(await r.resolve(unknown)).toBeUndefined()
    expect(r.keys.lookups).toHaveLength(2)
  })

  it('should try the stores again soon after serving a stale answer', async () => {
    const r = rig()
    const { key } = await register(r)
    await r.resolve(key)
    r.keys.failure = new Error('supabase: 503')
    r.state.readFailure = new Error('ECONNREFUSED')
    r.at(MEMO_TTL_MS)
    await r.resolve(key)
    r.at(MEMO_TTL_MS + REFUSED_TTL_MS - 1)
    await r.resolve(key)
    expect(r.keys.lookups).toHaveLength(2)
    r.at(MEMO_TTL_MS + REFUSED_TTL_MS)
    await r.resolve(key)
    expect(r.keys.lookups).toHaveLength(3)
  })

  it('should not extend the grace period by failing again: it ends STALE_GRACE_MS after the fill', async () => {
    const r = rig()
    const { key } = await register(r)
    const known = await r.resolve(key)
    r.keys.failure = new Error('supabase: 503')
    r.state.readFailure = new Error('ECONNREFUSED')
    let failures = 0
    for (let t = MEMO_TTL_MS; t + REFUSED_TTL_MS <= STALE_GRACE_MS; t += REFUSED_TTL_MS) {
      r.at(t)
      expect(await r.resolve(key)).toBe(known)
      failures++
    }
    expect(failures).toBeGreaterThan(10)
    expect(r.keys.lookups).toHaveLength(1 + failures)
    r.at(STALE_GRACE_MS)
    await expectAuthUnavailable(r.resolve(key))
  })

  it('should start a new grace period from a fresh answer', async () => {
    const r = rig()
    const { key } = await register(r)
    await r.resolve(key)
    r.keys.failure = new Error('supabase: 503')
    r.state.readFailure = new Error('ECONNREFUSED')
    r.at(MEMO_TTL_MS)
    await r.resolve(key) // stale
    r.keys.failure = undefined
    r.state.readFailure = undefined
    r.state.cache.clear()
    r.at(MEMO_TTL_MS + REFUSED_TTL_MS)
    const fresh = await r.resolve(key)
    expect(r.calls()).toStrictEqual([3, 3])

    r.keys.failure = new Error('supabase: 503')
    r.state.readFailure = new Error('ECONNREFUSED')
    // Past the first fill's grace, within the fresh one's.
    r.at(STALE_GRACE_MS)
    expect(await r.resolve(key)).toBe(fresh)
    r.at(MEMO_TTL_MS + REFUSED_TTL_MS + STALE_GRACE_MS)
    await expectAuthUnavailable(r.resolve(key))
  })
})
