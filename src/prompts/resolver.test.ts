/**
 * The prompt resolver: a memoised answer costs no I/O while the config epoch holds; a moved
 * epoch reads the shared cache, then the store; answers are cached tagged with the epoch read;
 * when the store is down the last known answer serves, and a prompt never known is a 503.
 */
import { describe, expect, it } from 'vitest'
import { GatewayError } from '../errors'
import type {
  Admission,
  CachedConfig,
  CachedName,
  LimitResult,
  PromptStore,
  SharedState,
} from '../stores'
import { cachedConfigKey, promptCacheKey } from '../stores/shared-keys'
import { createPromptResolver, MEMO_TTL_MS, STALE_GRACE_MS } from './resolver'
import type { ResolvedPrompt } from './template'

const resolved = (version: number): ResolvedPrompt => ({
  prompt_id: 'greet',
  version,
  template: { messages: [{ role: 'user', content: `v${String(version)} {{name}}` }] },
})

class FakeStore implements PromptStore {
  calls = 0
  failure: Error | undefined
  answer: unknown = resolved(1)
  resolve(): Promise<unknown> {
    this.calls++
    return this.failure === undefined ? Promise.resolve(this.answer) : Promise.reject(this.failure)
  }
}

class FakeState implements SharedState {
  epoch = 0
  reads = 0
  readFailure: Error | undefined
  readonly cache = new Map<string, CachedConfig>()
  readCached(name: CachedName) {
    this.reads++
    if (this.readFailure !== undefined) return Promise.reject(this.readFailure)
    return Promise.resolve({ cached: this.cache.get(cachedConfigKey(name)), epoch: this.epoch })
  }
  writeCached(name: CachedName, entry: CachedConfig) {
    this.cache.set(cachedConfigKey(name), entry)
    return Promise.resolve()
  }
  admit(): Promise<Admission> {
    return Promise.reject(new Error('unused'))
  }
  releaseQuota(): Promise<void> {
    return Promise.reject(new Error('unused'))
  }
  limitIp(): Promise<LimitResult> {
    return Promise.reject(new Error('unused'))
  }
}

const setup = () => {
  const store = new FakeStore()
  const state = new FakeState()
  let epoch = 0
  let clock = 1_000_000
  const pending: Promise<unknown>[] = []
  const resolver = createPromptResolver({
    prompts: store,
    state,
    epoch: () => epoch,
    now: () => clock,
  })
  const resolve = async (selector?: string) => {
    const value = await resolver.resolve('org_1', 'greet', selector, (work) => pending.push(work))
    await Promise.all(pending)
    return value
  }
  return {
    store,
    state,
    resolve,
    setEpoch: (value: number) => {
      epoch = value
      state.epoch = value
    },
    advance: (ms: number) => {
      clock += ms
    },
  }
}

describe('createPromptResolver', () => {
  it('should ask the store once, cache the answer, and serve the memo with no I/O after', async () => {
    const r = setup()
    expect(await r.resolve()).toEqual(resolved(1))
    expect(await r.resolve()).toEqual(resolved(1))
    expect(r.store.calls).toBe(1)
    expect(r.state.reads).toBe(1)
    expect(r.state.cache.get(promptCacheKey('org_1', 'greet', undefined))).toEqual({
      epoch: 0,
      config: resolved(1),
    })
  })

  it('should memoise each selector apart', async () => {
    const r = setup()
    await r.resolve()
    await r.resolve('production')
    await r.resolve('2')
    expect(r.store.calls).toBe(3)
  })

  it('should read again once the config epoch moved, and take a current cached answer', async () => {
    const r = setup()
    await r.resolve()
    r.setEpoch(1)
    r.state.cache.set(promptCacheKey('org_1', 'greet', undefined), {
      epoch: 1,
      config: resolved(2),
    })
    expect(await r.resolve()).toEqual(resolved(2))
    expect(r.store.calls).toBe(1)
  })

  it('should not trust a cached answer from an older epoch', async () => {
    const r = setup()
    r.setEpoch(3)
    r.state.cache.set(promptCacheKey('org_1', 'greet', undefined), {
      epoch: 2,
      config: resolved(9),
    })
    r.store.answer = resolved(4)
    expect(await r.resolve()).toEqual(resolved(4))
    expect(r.state.cache.get(promptCacheKey('org_1', 'greet', undefined))?.epoch).toBe(3)
  })

  it('should read again after the memo time', async () => {
    const r = setup()
    await r.resolve()
    r.advance(MEMO_TTL_MS)
    r.state.cache.clear()
    await r.resolve()
    expect(r.store.calls).toBe(2)
  })

  it('should remember that a prompt does not exist', async () => {
    const r = setup()
    r.store.answer = null
    expect(await r.resolve()).toBeNull()
    expect(await r.resolve()).toBeNull()
    expect(r.store.calls).toBe(1)
  })

  it('should ask the store when the shared cache is down', async () => {
    const r = setup()
    r.state.readFailure = new Error('redis down')
    expect(await r.resolve()).toEqual(resolved(1))
    expect(r.store.calls).toBe(1)
  })

  it('should serve the last known answer while the store is down, within the grace period', async () => {
    const r = setup()
    await r.resolve()
    r.setEpoch(1)
    r.store.failure = new Error('postgres down')
    expect(await r.resolve()).toEqual(resolved(1))
    r.state.cache.clear() // and the shared cache's entry has expired too
    r.advance(STALE_GRACE_MS)
    await expect(r.resolve()).rejects.toMatchObject({ code: 'PROMPT_UNAVAILABLE', status: 503 })
  })

  it('should serve a cached answer of an older epoch rather than fail while the store is down', async () => {
    const r = setup()
    r.setEpoch(5)
    r.state.cache.set(promptCacheKey('org_1', 'greet', undefined), {
      epoch: 4,
      config: resolved(3),
    })
    r.store.failure = new Error('postgres down')
    expect(await r.resolve()).toEqual(resolved(3))
  })

  it('should answer 503 with Retry-After for a prompt never known while the store is down', async () => {
    const r = setup()
    r.store.failure = new Error('postgres down')
    const error = await r.resolve().catch((err: unknown) => err)
    expect(error).toBeInstanceOf(GatewayError)
    expect(error).toMatchObject({ code: 'PROMPT_UNAVAILABLE', headers: { 'retry-after': '5' } })
  })

  it('should treat a malformed store answer as the store failing', async () => {
    const r = setup()
    r.store.answer = { prompt_id: 'greet', version: 0, template: {} }
    await expect(r.resolve()).rejects.toMatchObject({ code: 'PROMPT_UNAVAILABLE' })
  })
})

describe('peek', () => {
  it('should know only what the memo holds while the epoch holds, with no I/O', async () => {
    const store = new FakeStore()
    const state = new FakeState()
    let epoch = 0
    const resolver = createPromptResolver({ prompts: store, state, epoch: () => epoch })
    expect(resolver.peek('org_1', 'greet', undefined)).toBeUndefined()
    await resolver.resolve('org_1', 'greet', undefined, () => undefined)
    const reads = state.reads
    expect(resolver.peek('org_1', 'greet', undefined)).toEqual(resolved(1))
    expect(resolver.peek('org_1', 'greet', '2')).toBeUndefined()
    epoch = 1
    expect(resolver.peek('org_1', 'greet', undefined)).toBeUndefined()
    expect(state.reads).toBe(reads)
    expect(store.calls).toBe(1)
  })
})
