/**
 * @module Self-tests of the Upstash REST bridge (`test/support/upstash-bridge.ts`) in front of a
 * real `redis-server` (`test/support/redis.ts`), driven by the production clients
 * `@upstash/redis` and `@upstash/ratelimit`, so later rate-limit and counter tests can trust it.
 */
import { createHash } from 'node:crypto'
import { Ratelimit } from '@upstash/ratelimit'
import { Redis } from '@upstash/redis'
import { Redis as IORedis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startRedis } from '../support/redis.ts'
import type { RedisServer } from '../support/redis.ts'
import { startUpstashBridge, stripLockingFlag } from '../support/upstash-bridge.ts'
import type { UpstashBridge } from '../support/upstash-bridge.ts'

const TOKEN = 'test-upstash-token'

let server: RedisServer
let bridge: UpstashBridge
let redis: Redis
let direct: IORedis

beforeAll(async () => {
  server = await startRedis()
  bridge = await startUpstashBridge({ redisUrl: server.url, token: TOKEN })
  redis = new Redis({ url: bridge.url, token: TOKEN, enableAutoPipelining: true })
  direct = new IORedis(server.url)
})

afterAll(async () => {
  await direct.quit()
  await bridge.close()
  await server.close()
})

/** POSTs raw JSON to the bridge, as a client that does not hide the wire format. */
async function raw(
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`${bridge.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  })
  return { status: res.status, json: await res.json() }
}

describe('redis-server', () => {
  it('answers on its own port and is reachable directly', async () => {
    expect(server.url).toBe(`redis://127.0.0.1:${server.port}`)
    expect(await direct.ping()).toBe('PONG')
  })
})

describe('Upstash REST wire format', () => {
  it('rejects a missing or wrong token with 401 Unauthorized', async () => {
    const res = await fetch(bridge.url, { method: 'POST', body: '["ping"]' })
    expect(res.status).toBe(401)
    expect(await res.json()).toEqual({ error: 'Unauthorized' })
    const wrong = await raw('/', ['ping'], { authorization: 'Bearer nope' })
    expect(wrong).toEqual({ status: 401, json: { error: 'Unauthorized' } })
  })

  it('stringifies arguments, base64-encodes strings on request, reports errors as 400', async () => {
    expect(await raw('/', ['set', 'wire:n', 42])).toEqual({ status: 200, json: { result: 'OK' } })
    expect(await direct.get('wire:n')).toBe('42')
    expect(await raw('/', ['incrby', 'wire:n', 1])).toEqual({ status: 200, json: { result: 43 } })
    const b64 = { 'upstash-encoding': 'base64' }
    expect(await raw('/', ['get', 'wire:n'], b64)).toEqual({
      status: 200,
      json: { result: 'NDM=' },
    })
    expect(await raw('/', ['get', 'wire:missing'], b64)).toEqual({
      status: 200,
      json: { result: null },
    })
    const bad = await raw('/', ['incr', 'wire:n', 'extra'])
    expect(bad.status).toBe(400)
    expect(bad.json).toEqual({ error: expect.stringMatching(/^ERR /) as unknown })
    const piped = await raw('/pipeline', [
      ['set', 'wire:s', 'x'],
      ['incr', 'wire:s'],
      ['get', 'wire:s'],
    ])
    expect(piped.status).toBe(200)
    expect(piped.json).toEqual([
      { result: 'OK' },
      { error: expect.stringMatching(/^ERR /) as unknown },
      { result: 'x' },
    ])
  })

  it('strips the allow-key-locking shebang flag and keeps other flags', () => {
    expect(stripLockingFlag('#!lua flags=allow-key-locking\nreturn 1')).toBe('#!lua\nreturn 1')
    expect(stripLockingFlag('#!lua flags=no-writes,allow-key-locking\nreturn 1')).toBe(
      '#!lua flags=no-writes\nreturn 1',
    )
    expect(stripLockingFlag('return 1')).toBe('return 1')
  })
})

describe('@upstash/redis through the bridge', () => {
  it('set / get / incr / expire / del', async () => {
    expect(await redis.set('kv:a', 'hello')).toBe('OK')
    expect(await redis.get('kv:a')).toBe('hello')
    expect(await redis.incr('kv:count')).toBe(1)
    expect(await redis.incrby('kv:count', 4)).toBe(5)
    expect(await redis.expire('kv:count', 60)).toBe(1)
    const ttl = await redis.ttl('kv:count')
    expect(ttl).toBeGreaterThan(0)
    expect(ttl).toBeLessThanOrEqual(60)
    expect(await redis.del('kv:a', 'kv:count')).toBe(2)
    expect(await redis.get('kv:a')).toBeNull()
    expect(await direct.exists('kv:a', 'kv:count')).toBe(0)
  })

  it('hashes', async () => {
    expect(await redis.hset('h:user', { name: 'Ada', plan: 'pro' })).toBe(2)
    expect(await redis.hget('h:user', 'name')).toBe('Ada')
    expect(await redis.hincrby('h:user', 'calls', 3)).toBe(3)
    expect(await redis.hgetall('h:user')).toEqual({ name: 'Ada', plan: 'pro', calls: 3 })
    expect(await direct.hgetall('h:user')).toEqual({ name: 'Ada', plan: 'pro', calls: '3' })
  })

  it('pipeline() sends one /pipeline request and returns every result in order', async () => {
    const before = bridge.requests
    const results = await redis
      .pipeline()
      .set('p:a', 'one')
      .incr('p:n')
      .incr('p:n')
      .get('p:a')
      .exec()
    expect(results).toEqual(['OK', 1, 2, 'one'])
    expect(bridge.requests - before).toBe(1)
  })

  it('multi() runs inside MULTI/EXEC', async () => {
    const before = bridge.requests
    const results = await redis
      .multi()
      .set('m:a', 'x')
      .incr('m:n')
      .expire('m:n', 30)
      .hset('m:h', { k: 'v' })
      .hgetall('m:h')
      .exec()
    expect(results).toEqual(['OK', 1, 1, 1, { k: 'v' }])
    expect(bridge.requests - before).toBe(1)
    expect(await direct.ttl('m:n')).toBeGreaterThan(0)
    // a command failing inside the transaction does not undo the others (Redis semantics)
    await expect(redis.multi().set('m:b', 'y').incr('m:a').exec()).rejects.toThrow(/ERR/)
    expect(await direct.get('m:b')).toBe('y')
    // a command rejected while queueing aborts the whole transaction: nothing is applied
    const aborted = await raw('/multi-exec', [['set', 'm:c', 'z'], ['incr']])
    expect(aborted.status).toBe(400)
    expect(aborted.json).toEqual({ error: expect.stringMatching(/^EXECABORT /) as unknown })
    expect(await direct.exists('m:c')).toBe(0)
  })

  it('auto-pipelines concurrent commands into one /pipeline request per mode', async () => {
    await redis.ping()
    // @upstash/redis 1.39 batches concurrent writes and concurrent reads in separate pipelines
    let before = bridge.requests
    const writes = await Promise.all([
      redis.incr('auto:n'),
      redis.incr('auto:n'),
      redis.set('auto:s', 'v'),
      redis.hset('auto:h', { f: 'w' }),
    ])
    expect(writes).toEqual([1, 2, 'OK', 1])
    expect(bridge.requests - before).toBe(1)
    before = bridge.requests
    const reads = await Promise.all([
      redis.get('auto:n'),
      redis.get('auto:s'),
      redis.hget('auto:h', 'f'),
      redis.ttl('auto:s'),
    ])
    expect(reads).toEqual([2, 'v', 'w', -1])
    expect(bridge.requests - before).toBe(1)
  })

  it('round-trips non-ASCII and binary-ish strings through base64', async () => {
    const samples = {
      'enc:unicode': 'héllo wörld — 日本語 🚀',
      'enc:binary': '\u0000\u0001\u0002\u007f\u0080\u00ff\uffff end',
      'enc:quotes': 'quote " backslash \\ newline \n tab \t',
      // valid base64 text: decoded into garbage if the bridge forgot to encode it
      'enc:looks-b64': 'QUJDRA==',
    }
    for (const [key, value] of Object.entries(samples)) {
      expect(await redis.set(key, value)).toBe('OK')
      expect(await redis.get(key)).toBe(value)
      expect(await direct.getBuffer(key)).toEqual(Buffer.from(value, 'utf8'))
      const wire = await raw('/', ['get', key], { 'upstash-encoding': 'base64' })
      expect(wire.json).toEqual({ result: Buffer.from(value, 'utf8').toString('base64') })
    }
  })

  it('throws on a wrong token', async () => {
    const intruder = new Redis({ url: bridge.url, token: 'wrong', enableAutoPipelining: true })
    await expect(intruder.get('kv:a')).rejects.toThrow(/Unauthorized/)
  })

  it('EVALSHA works with the SHA of the original, flagged script', async () => {
    const script = '#!lua flags=allow-key-locking\nreturn redis.call("INCR", KEYS[1])'
    const sha = createHash('sha1').update(script).digest('hex')
    expect(await redis.scriptLoad(script)).toBe(sha)
    expect(await redis.evalsha(sha, ['lua:n'], [])).toBe(1)
    expect(await redis.eval(script, ['lua:n'], [])).toBe(2)
    expect(await redis.evalsha(sha, ['lua:n'], [])).toBe(3)
  })
})

describe('@upstash/ratelimit through the bridge', () => {
  it('slidingWindow(5, "10 s") allows exactly 5 of 8 immediate calls', async () => {
    const ratelimit = new Ratelimit({
      redis,
      limiter: Ratelimit.slidingWindow(5, '10 s'),
      prefix: `rl-test-${Date.now()}`,
      ephemeralCache: false,
      analytics: false,
    })
    const outcomes: boolean[] = []
    for (let i = 0; i < 8; i++) outcomes.push((await ratelimit.limit('user-1')).success)
    expect(outcomes).toEqual([true, true, true, true, true, false, false, false])
    // another identifier has its own window
    expect((await ratelimit.limit('user-2')).success).toBe(true)
  })
})
