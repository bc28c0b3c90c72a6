/**
 * A run of stages as one handler (`chain`) behaves as Hono's own compose does with the same stages
 * registered one by one: order, `next`, a returned response becoming `c.res` for the stages
 * before it, an error becoming the error response where it was thrown (with `c.error` set), and a
 * stage that answers ending the run. Each case runs both ways and compares.
 */
import { Hono, type MiddlewareHandler } from 'hono'
import { describe, expect, it } from 'vitest'
import { chain } from './chain'

type Trail = string[]

const onError = (err: Error): Response => Response.json({ error: err.message }, { status: 500 })

/** The same stages, registered one by one and as one chain; what each answers, and its trail. */
const both = async (
  make: (trail: Trail) => MiddlewareHandler[],
): Promise<{ hono: [number, string, Trail]; chained: [number, string, Trail] }> => {
  const serve = async (app: Hono, trail: Trail): Promise<[number, string, Trail]> => {
    app.onError(onError)
    const res = await app.request('/x', { method: 'POST' })
    return [res.status, await res.text(), trail]
  }
  const honoTrail: Trail = []
  const hono = new Hono()
  hono.post('/x', ...(make(honoTrail) as [MiddlewareHandler]))
  const chainedTrail: Trail = []
  const chained = new Hono()
  chained.post('/x', chain(make(chainedTrail), onError))
  return { hono: await serve(hono, honoTrail), chained: await serve(chained, chainedTrail) }
}

/** A stage that notes the response it sees after the rest have run. */
const outer =
  (trail: Trail, name: string): MiddlewareHandler =>
  async (c, next) => {
    trail.push(`${name} in`)
    await next()
    trail.push(`${name} out ${String(c.res.status)}${c.error ? ` error ${c.error.message}` : ''}`)
  }

/** A stage with nothing to do: hands on without a promise of its own. */
const plain =
  (trail: Trail, name: string): MiddlewareHandler =>
  (_c, next) => {
    trail.push(name)
    return next()
  }

const answer =
  (trail: Trail, status: number): MiddlewareHandler =>
  async (c) => {
    await Promise.resolve()
    trail.push(`answer ${String(status)}`)
    return c.text('answered', status as 200)
  }

describe('chain', () => {
  it('should run the stages in order and make a returned response the one earlier stages see', async () => {
    const { hono, chained } = await both((trail) => [
      outer(trail, 'a'),
      plain(trail, 'b'),
      outer(trail, 'c'),
      answer(trail, 201),
    ])
    expect(chained).toEqual(hono)
    expect(chained).toEqual([
      201,
      'answered',
      ['a in', 'b', 'c in', 'answer 201', 'c out 201', 'a out 201'],
    ])
  })

  it('should turn an error thrown in an async stage into the error response, where it was thrown', async () => {
    const { hono, chained } = await both((trail) => [
      outer(trail, 'a'),
      outer(trail, 'b'),
      async () => {
        await Promise.resolve()
        throw new Error('late')
      },
    ])
    expect(chained).toEqual(hono)
    expect(chained).toEqual([
      500,
      '{"error":"late"}',
      ['a in', 'b in', 'b out 500 error late', 'a out 500 error late'],
    ])
  })

  it('should turn an error thrown synchronously by a plain stage into the error response', async () => {
    const { hono, chained } = await both((trail) => [
      outer(trail, 'a'),
      () => {
        throw new Error('at once')
      },
      answer(trail, 200),
    ])
    expect(chained).toEqual(hono)
    expect(chained).toEqual([500, '{"error":"at once"}', ['a in', 'a out 500 error at once']])
  })

  it('should end the run at a stage that answers without calling next', async () => {
    const { hono, chained } = await both((trail) => [
      outer(trail, 'a'),
      (c) => Promise.resolve(c.text('refused', 429)),
      answer(trail, 200),
    ])
    expect(chained).toEqual(hono)
    expect(chained).toEqual([429, 'refused', ['a in', 'a out 429']])
  })

  it('should let an error a stage makes after the rest have run replace the response', async () => {
    const { hono, chained } = await both((trail) => [
      outer(trail, 'a'),
      async (_c, next) => {
        await next()
        throw new Error('after')
      },
      answer(trail, 200),
    ])
    expect(chained).toEqual(hono)
    expect(chained).toEqual([
      500,
      '{"error":"after"}',
      ['a in', 'answer 200', 'a out 500 error after'],
    ])
  })

  it('should keep a response already set over one a stage returns after next', async () => {
    const { hono, chained } = await both((trail) => [
      outer(trail, 'a'),
      async (c, next) => {
        await next()
        return c.text('late answer', 202)
      },
      answer(trail, 200),
    ])
    expect(chained).toEqual(hono)
    expect(chained).toEqual([200, 'answered', ['a in', 'answer 200', 'a out 200']])
  })
})
