/**
 * @module Self-tests of the Qdrant stand-in (`test/support/qdrant.ts`), driven by the official
 * `@qdrant/js-client-rest` client, and by plain `fetch` for what that client never sends, so the
 * semantic-cache and firewall tests can trust it: results as Qdrant computes them (Cosine scores
 * against a reference to 1e-6), Qdrant's envelopes and errors, spec validation of every request
 * and answer, authentication, and the down/latency faults.
 */
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { QdrantClient, QdrantClientTimeoutError } from '@qdrant/js-client-rest'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import type { MockInstance } from 'vitest'
import { qdrantResponseViolations, startQdrant } from '../support/qdrant.ts'
import type { QdrantStandIn, QdrantViolation } from '../support/qdrant.ts'

const READ_ONLY_KEY = 'read-only-test-key'
const CACHE = 'semantic_cache'
const UUID = '6f0b5c2e-9a1d-4e53-8c7b-2f4e1a9d3c10'
const UUID_UPPER = 'A3C1E0D2-7B4F-4C8E-9D6A-1B2C3D4E5F60'

type Point = { id: number | string; vector: number[]; payload: Record<string, unknown> }

const POINTS: Point[] = [
  {
    id: 1,
    vector: [0.05, 0.61, 0.76, 0.74],
    payload: { city: 'Berlin', tenant: 'a', tokens: 10, tags: ['x', 'y'] },
  },
  { id: 2, vector: [0.19, 0.81, 0.75, 0.11], payload: { city: 'London', tenant: 'a', tokens: 25 } },
  { id: 3, vector: [0.36, 0.55, 0.47, 0.94], payload: { city: 'Moscow', tenant: 'b', tokens: 40 } },
  {
    id: UUID,
    vector: [0.18, 0.01, 0.85, 0.8],
    payload: { city: 'London', tenant: 'b', tokens: 55, model: { name: 'gpt', params: [1, 2] } },
  },
  { id: 4, vector: [0.24, 0.18, 0.22, 0.44], payload: { city: 'Beijing', tenant: 'a', tokens: 5 } },
  {
    id: UUID_UPPER,
    vector: [-0.3, 0.2, 0.1, 0.9],
    payload: { city: 'Paris', tenant: 'c', tokens: 70, tags: [] },
  },
]
const QUERY = [0.2, 0.1, 0.9, 0.7]

const dot = (a: number[], b: number[]): number => a.reduce((sum, x, i) => sum + x * (b[i] ?? 0), 0)
const norm = (a: number[]): number => Math.sqrt(dot(a, a))
/** The reference: cosine similarity in f64. */
const cosine = (a: number[], b: number[]): number => dot(a, b) / (norm(a) * norm(b))
const euclid = (a: number[], b: number[]): number =>
  Math.sqrt(a.reduce((sum, x, i) => sum + (x - (b[i] ?? 0)) ** 2, 0))

/** Ids as Qdrant answers them (UUIDs lower-case). */
const canonical = (id: number | string): number | string =>
  typeof id === 'string' ? id.toLowerCase() : id

/** The ids of `POINTS` matching `keep`, best Cosine score against `QUERY` first. */
const expectedOrder = (keep: (p: Point) => boolean = () => true): Array<number | string> =>
  POINTS.filter(keep)
    .map((p) => ({ id: canonical(p.id), score: cosine(QUERY, p.vector) }))
    .sort((a, b) => b.score - a.score)
    .map((p) => p.id)

let qdrant: QdrantStandIn
let client: QdrantClient
let warn: MockInstance<typeof console.warn>

beforeAll(async () => {
  // The client warns about an api key over http; the stand-in is plain http on loopback.
  warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined)
  qdrant = await startQdrant({ readOnlyApiKey: READ_ONLY_KEY })
  client = new QdrantClient({
    url: qdrant.url,
    apiKey: qdrant.apiKey ?? '',
    checkCompatibility: false,
  })
})

afterAll(async () => {
  await qdrant.close()
  warn.mockRestore()
})

/** A request as a client that does not hide the wire format sends it. */
async function raw(
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = { 'api-key': qdrant.apiKey ?? '' },
): Promise<{ status: number; json: unknown; text: string; type: string | null }> {
  const res = await fetch(`${qdrant.url}${path}`, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  })
  const text = await res.text()
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    json = undefined
  }
  return { status: res.status, json, text, type: res.headers.get('content-type') }
}

/** Violations recorded while `run` ran. */
async function newViolations(run: () => Promise<unknown>): Promise<QdrantViolation[]> {
  const before = qdrant.violations.length
  await run()
  return qdrant.violations.slice(before)
}

const errorBody = (message: unknown): unknown => ({
  status: { error: message },
  time: expect.any(Number) as unknown,
})

describe('the spec fixture', () => {
  it('should be the copy SOURCES.md lists', () => {
    const file = readFileSync(new URL('../fixtures/qdrant/openapi.json', import.meta.url))
    expect(createHash('sha256').update(file).digest('hex')).toBe(
      'ae5cf980e40fc12ce7ce48f500a7c9cc19a7d8fcf0cfa1e2c7c7b27faecd8ffa',
    )
  })
})

describe('@qdrant/js-client-rest against the stand-in', () => {
  afterEach(() => {
    expect(qdrant.violations).toEqual([])
  })

  it('should create a collection once and then report it as existing', async () => {
    expect(await client.collectionExists(CACHE)).toEqual({ exists: false })
    expect(await client.createCollection(CACHE, { vectors: { size: 4, distance: 'Cosine' } })).toBe(
      true,
    )
    expect(await client.collectionExists(CACHE)).toEqual({ exists: true })
    await expect(
      client.createCollection(CACHE, { vectors: { size: 4, distance: 'Cosine' } }),
    ).rejects.toMatchObject({
      status: 409,
      data: errorBody(`Wrong input: Collection \`${CACHE}\` already exists!`),
    })
    const info = await client.getCollection(CACHE)
    expect(info.config.params.vectors).toEqual({ size: 4, distance: 'Cosine' })
    expect(info.points_count).toBe(0)
    expect(qdrant.requests.slice(-5).map((r) => [r.method, r.path, r.operationId])).toEqual([
      ['GET', `/collections/${CACHE}/exists`, 'collection_exists'],
      ['PUT', `/collections/${CACHE}`, 'create_collection'],
      ['GET', `/collections/${CACHE}/exists`, 'collection_exists'],
      ['PUT', `/collections/${CACHE}`, 'create_collection'],
      ['GET', `/collections/${CACHE}`, 'get_collection'],
    ])
  })

  it('should record the payload indexes created, as sent', async () => {
    const keyword = { type: 'keyword', is_tenant: true } as const
    expect(
      await client.createPayloadIndex(CACHE, {
        field_name: 'tenant',
        field_schema: keyword,
        wait: true,
      }),
    ).toEqual({ operation_id: 0, status: 'completed' })
    expect(
      await client.createPayloadIndex(CACHE, { field_name: 'tokens', field_schema: 'integer' }),
    ).toEqual({ operation_id: 1, status: 'acknowledged' })
    expect(qdrant.collection(CACHE)?.payloadIndexes).toEqual({
      tenant: keyword,
      tokens: 'integer',
    })
    const last = qdrant.requests.at(-1)
    expect(last).toMatchObject({
      method: 'PUT',
      path: `/collections/${CACHE}/index`,
      operationId: 'create_field_index',
      body: { field_name: 'tokens', field_schema: 'integer' },
      status: 200,
    })
    expect(qdrant.requests.at(-2)?.query).toEqual({ wait: 'true' })
    const info = await client.getCollection(CACHE)
    expect(info.payload_schema).toEqual({
      tenant: { data_type: 'keyword', params: keyword, points: 0 },
      tokens: { data_type: 'integer', points: 0 },
    })
  })

  it('should upsert integer and UUID ids and store Cosine vectors normalised', async () => {
    const result = await client.upsert(CACHE, { wait: true, points: POINTS })
    expect(result).toEqual({ operation_id: 2, status: 'completed' })
    expect(qdrant.requests.at(-1)).toMatchObject({
      method: 'PUT',
      path: `/collections/${CACHE}/points`,
      query: { wait: 'true' },
      operationId: 'upsert_points',
    })
    const stored = qdrant.collection(CACHE)?.points ?? []
    expect(stored.map((p) => p.id)).toEqual([1, 2, 3, 4, UUID, UUID_UPPER.toLowerCase()])
    for (const point of POINTS) {
      const vector = stored.find((p) => p.id === canonical(point.id))?.vectors[''] ?? []
      const length = norm(point.vector)
      expect(vector).toHaveLength(4)
      vector.forEach((x, i) => {
        expect(x).toBeCloseTo((point.vector[i] ?? 0) / length, 6)
      })
      expect(norm(vector)).toBeCloseTo(1, 6)
    }
    expect((await client.getCollection(CACHE)).points_count).toBe(POINTS.length)
    expect(await client.count(CACHE)).toEqual({ count: POINTS.length })
  })

  it('should score a query as Cosine does, best first, to 1e-6 of the reference', async () => {
    const { points } = await client.query(CACHE, { query: QUERY, limit: 10, with_payload: true })
    expect(points.map((p) => p.id)).toEqual(expectedOrder())
    for (const point of points) {
      const source = POINTS.find((p) => canonical(p.id) === point.id)
      expect(Math.abs(point.score - cosine(QUERY, source?.vector ?? []))).toBeLessThan(1e-6)
      expect(point.payload).toEqual(source?.payload)
      expect(point.vector).toBeUndefined()
      expect(point.version).toBe(2)
    }
    const top = await client.query(CACHE, { query: QUERY, limit: 2 })
    expect(top.points.map((p) => p.id)).toEqual(expectedOrder().slice(0, 2))
    expect(top.points[0]?.payload).toBeUndefined()
  })

  it('should answer with the stored, normalised vector when asked', async () => {
    const { points } = await client.query(CACHE, {
      query: QUERY,
      limit: 1,
      with_vector: true,
      with_payload: ['city'],
    })
    const best = points[0]
    const source = POINTS.find((p) => canonical(p.id) === best?.id)
    expect(best?.payload).toEqual({ city: source?.payload['city'] })
    const vector = best?.vector as number[]
    vector.forEach((x, i) => {
      expect(x).toBeCloseTo((source?.vector[i] ?? 0) / norm(source?.vector ?? []), 6)
    })
  })

  it('should filter with must, should, must_not, match.any, range and nested filters', async () => {
    const ids = async (filter: Record<string, unknown>): Promise<unknown[]> =>
      (await client.query(CACHE, { query: QUERY, filter, limit: 10 })).points.map((p) => p.id)
    const payload = (p: Point): Record<string, unknown> => p.payload
    expect(await ids({ must: [{ key: 'city', match: { value: 'London' } }] })).toEqual(
      expectedOrder((p) => payload(p)['city'] === 'London'),
    )
    expect(await ids({ must: [{ key: 'tenant', match: { any: ['a', 'c'] } }] })).toEqual(
      expectedOrder((p) => ['a', 'c'].includes(String(payload(p)['tenant']))),
    )
    expect(await ids({ must_not: [{ key: 'tenant', match: { value: 'a' } }] })).toEqual(
      expectedOrder((p) => payload(p)['tenant'] !== 'a'),
    )
    expect(
      await ids({
        should: [
          { key: 'city', match: { value: 'Berlin' } },
          { key: 'tokens', range: { gte: 55 } },
        ],
      }),
    ).toEqual(
      expectedOrder((p) => payload(p)['city'] === 'Berlin' || Number(payload(p)['tokens']) >= 55),
    )
    expect(await ids({ must: [{ key: 'tokens', range: { gt: 10, lte: 40 } }] })).toEqual(
      expectedOrder((p) => Number(payload(p)['tokens']) > 10 && Number(payload(p)['tokens']) <= 40),
    )
    // a Filter nested as a condition: tenant a AND (tokens < 10 OR city Berlin)
    expect(
      await ids({
        must: [
          { key: 'tenant', match: { value: 'a' } },
          {
            should: [
              { key: 'tokens', range: { lt: 10 } },
              { key: 'city', match: { value: 'Berlin' } },
            ],
          },
        ],
      }),
    ).toEqual(
      expectedOrder(
        (p) =>
          payload(p)['tenant'] === 'a' &&
          (Number(payload(p)['tokens']) < 10 || payload(p)['city'] === 'Berlin'),
      ),
    )
    // arrays match when any element does; nested keys; has_id; is_empty
    expect(await ids({ must: [{ key: 'tags', match: { value: 'y' } }] })).toEqual([1])
    expect(await ids({ must: [{ key: 'model.name', match: { value: 'gpt' } }] })).toEqual([UUID])
    expect(await ids({ must: [{ has_id: [2, UUID_UPPER] }] })).toEqual(
      expectedOrder((p) => p.id === 2 || p.id === UUID_UPPER),
    )
    // is_empty: a missing field or an empty array
    expect(await ids({ must: [{ is_empty: { key: 'tags' } }] })).toEqual(
      expectedOrder((p) => p.id !== 1),
    )
    // a missing field fails a match, so must_not keeps the point
    expect(await ids({ must: [{ key: 'absent', match: { value: 'x' } }] })).toEqual([])
    expect(await ids({ must_not: [{ key: 'absent', match: { value: 'x' } }] })).toEqual(
      expectedOrder(),
    )
  })

  it('should keep only scores strictly better than score_threshold', async () => {
    const all = (await client.query(CACHE, { query: QUERY, limit: 10 })).points
    const third = all[2]?.score ?? 0
    const { points } = await client.query(CACHE, {
      query: QUERY,
      limit: 10,
      score_threshold: third,
    })
    expect(points.map((p) => p.id)).toEqual(all.slice(0, 2).map((p) => p.id))
    const high = await client.query(CACHE, { query: QUERY, score_threshold: 0.999 })
    expect(high.points).toEqual([])
  })

  it('should scroll in id order with a next page offset, and retrieve by id', async () => {
    const first = await client.scroll(CACHE, {
      limit: 2,
      filter: { must: [{ key: 'tenant', match: { value: 'a' } }] },
    })
    expect(first.points.map((p) => p.id)).toEqual([1, 2])
    expect(first.points[0]?.payload).toEqual(POINTS[0]?.payload)
    expect(first.next_page_offset).toBe(4)
    const second = await client.scroll(CACHE, {
      limit: 2,
      offset: first.next_page_offset ?? 0,
      filter: { must: [{ key: 'tenant', match: { value: 'a' } }] },
    })
    expect(second).toEqual({
      points: [{ id: 4, payload: POINTS[4]?.payload }],
      next_page_offset: null,
    })
    const found = await client.retrieve(CACHE, { ids: [UUID, 99, 3], with_payload: false })
    expect(found).toEqual([{ id: UUID }, { id: 3 }])
  })

  it('should delete by filter and by id, and count with a filter', async () => {
    const tenantA = { must: [{ key: 'tenant', match: { value: 'a' } }] }
    expect(await client.count(CACHE, { filter: tenantA })).toEqual({ count: 3 })
    expect(await client.delete(CACHE, { filter: tenantA, wait: true })).toMatchObject({
      status: 'completed',
    })
    expect(await client.count(CACHE, { filter: tenantA })).toEqual({ count: 0 })
    expect(await client.count(CACHE)).toEqual({ count: 3 })
    await client.delete(CACHE, { points: [UUID] })
    expect(await client.count(CACHE)).toEqual({ count: 2 })
    expect(qdrant.requests.at(-2)).toMatchObject({
      method: 'POST',
      path: `/collections/${CACHE}/points/delete`,
      operationId: 'delete_points',
      body: { points: [UUID] },
    })
  })

  it('should answer a missing collection with 404 as Qdrant words it', async () => {
    const missing = { status: 404, data: errorBody("Not found: Collection `nope` doesn't exist!") }
    await expect(client.getCollection('nope')).rejects.toMatchObject(missing)
    await expect(client.query('nope', { query: QUERY })).rejects.toMatchObject(missing)
    await expect(client.upsert('nope', { points: POINTS })).rejects.toMatchObject(missing)
    expect(await client.collectionExists('nope')).toEqual({ exists: false })
    expect(await client.deleteCollection('nope')).toBe(false)
  })

  it('should refuse a vector of another size with a Wrong input 400', async () => {
    const dimension = {
      status: 400,
      data: errorBody('Wrong input: Vector dimension error: expected dim: 4, got 3'),
    }
    await expect(
      client.upsert(CACHE, { points: [{ id: 9, vector: [1, 2, 3] }] }),
    ).rejects.toMatchObject(dimension)
    await expect(client.query(CACHE, { query: [1, 2, 3] })).rejects.toMatchObject(dimension)
    expect(await client.count(CACHE)).toEqual({ count: 2 })
  })

  it('should pass the client version check, which an older server would fail', async () => {
    const before = qdrant.requests.length
    warn.mockClear()
    new QdrantClient({ url: qdrant.url, apiKey: qdrant.apiKey ?? '' })
    await vi.waitFor(() => {
      expect(qdrant.requests.slice(before)).toContainEqual(
        expect.objectContaining({ method: 'GET', path: '/', operationId: 'root', status: 200 }),
      )
    })
    // the same check against a server two minor versions behind warns; by the time that warning
    // arrives (a whole round trip later), the first client has long read its answer
    const old = await startQdrant({ version: '1.17.2' })
    try {
      new QdrantClient({ url: old.url, apiKey: old.apiKey ?? '' })
      await vi.waitFor(() => {
        expect(warn.mock.calls.flat().join(' ')).toMatch(/incompatible with server version/)
      })
    } finally {
      await old.close()
    }
    const versionWarnings = warn.mock.calls.flat().filter((m) => /version/i.test(String(m)))
    expect(versionWarnings).toEqual([expect.stringContaining('server version 1.17.2')])
  })
})

describe('other distances', () => {
  afterEach(() => {
    expect(qdrant.violations).toEqual([])
  })

  it('should rank Dot by the raw product and Euclid by distance, smaller first', async () => {
    await client.createCollection('dot', { vectors: { size: 4, distance: 'Dot' } })
    await client.createCollection('euclid', { vectors: { size: 4, distance: 'Euclid' } })
    await client.upsert('dot', { points: POINTS })
    await client.upsert('euclid', { points: POINTS })
    const dots = (await client.query('dot', { query: QUERY })).points
    const byDot = [...POINTS].sort((a, b) => dot(QUERY, b.vector) - dot(QUERY, a.vector))
    expect(dots.map((p) => p.id)).toEqual(byDot.map((p) => canonical(p.id)))
    dots.forEach((p, i) => {
      expect(p.score).toBeCloseTo(dot(QUERY, byDot[i]?.vector ?? []), 6)
    })
    const euclids = (await client.query('euclid', { query: QUERY })).points
    const byDistance = [...POINTS].sort((a, b) => euclid(QUERY, a.vector) - euclid(QUERY, b.vector))
    expect(euclids.map((p) => p.id)).toEqual(byDistance.map((p) => canonical(p.id)))
    euclids.forEach((p, i) => {
      expect(p.score).toBeCloseTo(euclid(QUERY, byDistance[i]?.vector ?? []), 6)
    })
    // for a distance, score_threshold keeps the points closer than it
    const near = await client.query('euclid', {
      query: QUERY,
      score_threshold: euclids[1]?.score ?? 0,
    })
    expect(near.points.map((p) => p.id)).toEqual([euclids[0]?.id])
    expect(await client.deleteCollection('dot')).toBe(true)
    expect(await client.deleteCollection('euclid')).toBe(true)
  })
})

describe('the wire format', () => {
  it("should wrap answers in Qdrant's envelope and match the spec's response schemas", async () => {
    const calls: Array<[string, string, string, unknown?]> = [
      ['root', 'GET', '/'],
      ['get_collections', 'GET', '/collections'],
      ['collection_exists', 'GET', `/collections/${CACHE}/exists`],
      ['get_collection', 'GET', `/collections/${CACHE}`],
      ['upsert_points', 'PUT', `/collections/${CACHE}/points?wait=true`, { points: POINTS }],
      ['get_point', 'GET', `/collections/${CACHE}/points/${UUID}`],
      ['get_points', 'POST', `/collections/${CACHE}/points`, { ids: [1, UUID] }],
      ['query_points', 'POST', `/collections/${CACHE}/points/query`, { query: QUERY }],
      [
        'query_batch_points',
        'POST',
        `/collections/${CACHE}/points/query/batch`,
        {
          searches: [
            { query: QUERY, limit: 1 },
            { query: QUERY, with_vector: true },
          ],
        },
      ],
      ['scroll_points', 'POST', `/collections/${CACHE}/points/scroll`, { limit: 2 }],
      ['count_points', 'POST', `/collections/${CACHE}/points/count`, {}],
      [
        'create_field_index',
        'PUT',
        `/collections/${CACHE}/index`,
        { field_name: 'city', field_schema: 'keyword' },
      ],
      ['delete_field_index', 'DELETE', `/collections/${CACHE}/index/city?wait=true`],
      ['delete_points', 'POST', `/collections/${CACHE}/points/delete`, { points: [99] }],
    ]
    for (const [operationId, method, path, body] of calls) {
      const res = await raw(method, path, body)
      expect(res.status, `${method} ${path}`).toBe(200)
      expect(res.type).toBe('application/json')
      expect(qdrantResponseViolations(operationId, res.json), operationId).toEqual([])
      if (operationId === 'root') {
        expect(res.json).toEqual({
          title: 'qdrant - vector search engine',
          version: '1.19.0',
          commit: expect.any(String) as unknown,
        })
      } else {
        // Qdrant 1.19 leaves `usage` out when hardware reporting is off
        expect(Object.keys(res.json as object).sort()).toEqual(['result', 'status', 'time'])
        expect(res.json).toMatchObject({ status: 'ok', time: expect.any(Number) as unknown })
      }
    }
    expect(qdrant.violations).toEqual([])
  })

  it('should hold its own answers to the spec (a bad one would be caught)', () => {
    expect(
      qdrantResponseViolations('count_points', { result: { count: -1 }, status: 'ok' }),
    ).not.toEqual([])
    expect(
      qdrantResponseViolations('query_points', { result: { points: [{ id: 1 }] } }),
    ).not.toEqual([])
  })

  it('should serve the health endpoints as text', async () => {
    expect(await raw('GET', '/healthz', undefined, {})).toMatchObject({
      status: 200,
      text: 'healthz check passed',
    })
    expect(await raw('GET', '/readyz', undefined, {})).toMatchObject({
      status: 200,
      text: 'all shards are ready',
    })
  })
})

describe('request validation', () => {
  const query = `/collections/${CACHE}/points/query`

  it('should answer 400 and record a violation for a vector of strings', async () => {
    let res: Awaited<ReturnType<typeof raw>> | undefined
    const seen = await newViolations(async () => {
      res = await raw('PUT', `/collections/${CACHE}/points`, {
        points: [{ id: 5, vector: ['a', 'b', 'c', 'd'] }],
      })
    })
    expect(res?.status).toBe(400)
    expect(res?.json).toEqual(
      errorBody(expect.stringMatching(/^Format error in JSON body: /) as unknown),
    )
    expect(seen).toEqual([
      expect.objectContaining({ kind: 'body', operationId: 'upsert_points', method: 'PUT' }),
    ])
    expect(qdrant.requests.at(-1)).toMatchObject({ status: 400, operationId: 'upsert_points' })
    for (const id of [-1, 'not-a-uuid']) {
      const bad = await raw('PUT', `/collections/${CACHE}/points`, {
        points: [{ id, vector: QUERY }],
      })
      expect(bad.status, String(id)).toBe(400)
    }
  })

  it('should refuse an unknown field in a Filter, which forbids them', async () => {
    let res: Awaited<ReturnType<typeof raw>> | undefined
    const seen = await newViolations(async () => {
      res = await raw('POST', query, {
        query: QUERY,
        filter: { must: [], tenant: 'a' },
      })
    })
    expect(res?.status).toBe(400)
    expect(seen).toHaveLength(1)
    expect(seen[0]?.errors.join(' ')).toMatch(/additional properties 'tenant'/)
  })

  it('should accept an unknown top-level query field, which serde ignores', async () => {
    let res: Awaited<ReturnType<typeof raw>> | undefined
    const seen = await newViolations(async () => {
      res = await raw('POST', query, { query: QUERY, limit: 1, unknown_option: true })
    })
    expect(res?.status).toBe(200)
    expect(seen).toEqual([])
  })

  it('should answer 422 for a bound and for a field condition without a condition', async () => {
    const seen = await newViolations(async () => {
      const limit = await raw('POST', query, { query: QUERY, limit: 0 })
      expect(limit).toMatchObject({
        status: 422,
        json: errorBody(
          'Validation error in JSON body: [limit: value 0 invalid, must be 1 or larger]',
        ),
      })
    })
    expect(seen).toEqual([expect.objectContaining({ kind: 'body' })])
    // a negative number does not even parse as an unsigned integer: a format error, 400
    const negative = await raw('POST', query, { query: QUERY, limit: -1 })
    expect(negative.status).toBe(400)
    expect(negative.json).toEqual(
      errorBody(expect.stringMatching(/^Format error in JSON body: /) as unknown),
    )
    const empty = await raw('POST', query, { query: QUERY, filter: { must: [{ key: 'city' }] } })
    expect(empty.status).toBe(422)
    expect(empty.json).toEqual(
      errorBody(
        'Validation error in JSON body: [filter.must[0]: At least one field condition must be specified]',
      ),
    )
  })

  it('should answer 400 for malformed JSON, a missing content type and a bad query parameter', async () => {
    const seen = await newViolations(async () => {
      const malformed = await raw('POST', query, '{"query": [1, 2')
      expect(malformed.status).toBe(400)
      expect(malformed.json).toEqual(
        errorBody(expect.stringMatching(/^Format error in JSON body: /) as unknown),
      )
      const plain = await fetch(`${qdrant.url}${query}`, {
        method: 'POST',
        headers: { 'api-key': qdrant.apiKey ?? '', 'content-type': 'text/plain' },
        body: JSON.stringify({ query: QUERY }),
      })
      expect(plain.status).toBe(400)
      expect(await plain.json()).toEqual(errorBody('Content type error'))
      const wait = await raw('PUT', `/collections/${CACHE}/points?wait=maybe`, { points: [] })
      expect(wait.status).toBe(400)
      expect(wait.json).toEqual(
        errorBody(expect.stringMatching(/^Deserialize error in query parameters: /) as unknown),
      )
    })
    expect(seen.map((v) => v.kind)).toEqual(['json', 'content-type', 'query'])
  })

  it('should answer 404 without a body for a route the spec does not have', async () => {
    let res: Awaited<ReturnType<typeof raw>> | undefined
    const seen = await newViolations(async () => {
      // the legacy search endpoint is gone from the 1.19 spec
      res = await raw('POST', `/collections/${CACHE}/points/search`, { vector: QUERY, limit: 3 })
    })
    expect(res).toMatchObject({ status: 404, text: '' })
    expect(seen).toEqual([
      expect.objectContaining({ kind: 'route', operationId: undefined, method: 'POST' }),
    ])
  })

  it('should answer 501 and record what it does not implement', async () => {
    const seen = await newViolations(async () => {
      const patch = await raw('PATCH', `/collections/${CACHE}`, { optimizers_config: {} })
      expect(patch.status).toBe(501)
      const byId = await raw('POST', query, { query: 1 })
      expect(byId.status).toBe(501)
      const geo = await raw('POST', `/collections/${CACHE}/points/count`, {
        filter: {
          must: [{ key: 'loc', geo_radius: { center: { lon: 0, lat: 0 }, radius: 1 } }],
        },
      })
      expect(geo.status).toBe(501)
    })
    expect(seen.map((v) => [v.kind, v.operationId])).toEqual([
      ['unsupported', 'update_collection'],
      ['unsupported', 'query_points'],
      ['unsupported', 'count_points'],
    ])
  })
})

describe('authentication', () => {
  const exists = `/collections/${CACHE}/exists`

  it('should refuse a missing or wrong key with 401, as Qdrant words it', async () => {
    expect(await raw('GET', exists, undefined, {})).toMatchObject({
      status: 401,
      text: 'Must provide an API key or an Authorization bearer token',
    })
    expect(await raw('GET', exists, undefined, { 'api-key': 'wrong' })).toMatchObject({
      status: 401,
      text: 'Invalid API key or JWT',
    })
    const intruder = new QdrantClient({
      url: qdrant.url,
      apiKey: 'wrong',
      checkCompatibility: false,
    })
    await expect(intruder.collectionExists(CACHE)).rejects.toMatchObject({ status: 401 })
  })

  it('should take the key from api-key or from a bearer token; / needs none', async () => {
    expect(
      (await raw('GET', exists, undefined, { authorization: `Bearer ${qdrant.apiKey ?? ''}` }))
        .status,
    ).toBe(200)
    expect((await raw('GET', '/', undefined, {})).status).toBe(200)
  })

  it('should let a read-only key read and refuse its writes with 403', async () => {
    const ro = { 'api-key': READ_ONLY_KEY }
    expect(
      (await raw('POST', `/collections/${CACHE}/points/query`, { query: QUERY }, ro)).status,
    ).toBe(200)
    const write = await raw('PUT', `/collections/${CACHE}/points`, { points: POINTS }, ro)
    expect(write).toMatchObject({
      status: 403,
      json: errorBody('Forbidden: Global manage access is required'),
    })
  })

  it('should need no key when started without one', async () => {
    const open = await startQdrant({ apiKey: null })
    try {
      expect(open.apiKey).toBeNull()
      const anonymous = new QdrantClient({ url: open.url, checkCompatibility: false })
      expect(await anonymous.collectionExists('x')).toEqual({ exists: false })
    } finally {
      await open.close()
    }
  })
})

describe('faults', () => {
  it('should drop connections while down and answer again once up', async () => {
    qdrant.setDown(true)
    const before = qdrant.requests.length
    try {
      await expect(client.collectionExists(CACHE)).rejects.toThrow(/fetch failed|socket|closed/i)
    } finally {
      qdrant.setDown(false)
    }
    expect(qdrant.requests.slice(before)).toEqual([
      expect.objectContaining({ path: `/collections/${CACHE}/exists`, status: 0 }),
    ])
    expect(await client.collectionExists(CACHE)).toEqual({ exists: true })
  })

  it('should delay answers by the latency set, so a client timeout fires', async () => {
    const impatient = new QdrantClient({
      url: qdrant.url,
      apiKey: qdrant.apiKey ?? '',
      checkCompatibility: false,
      timeout: 100,
    })
    qdrant.setLatency(10_000)
    try {
      await expect(impatient.collectionExists(CACHE)).rejects.toBeInstanceOf(
        QdrantClientTimeoutError,
      )
    } finally {
      qdrant.setLatency(0)
    }
    expect(await impatient.collectionExists(CACHE)).toEqual({ exists: true })
    // a patient client gets the delayed answer intact
    qdrant.setLatency(50)
    try {
      expect(await client.count(CACHE)).toEqual({ count: expect.any(Number) as unknown })
    } finally {
      qdrant.setLatency(0)
    }
  })
})
