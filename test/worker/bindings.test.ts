/**
 * The Worker under test gets the tests' bindings and `wrangler.toml`'s, and nothing from the
 * developer's machine: `npm run dev` writes `.dev.vars` (a dev key, a vault keyring, whatever the
 * developer adds), and wrangler would hand all of it to the tests unless told not to (see
 * `test/support/wrangler-worker.ts`). On a machine where `npm run dev` has run, this fails if that
 * file leaks in; `test/e2e/worker-bindings.test.ts` proves the same with a `.dev.vars` of its own.
 */
import { env } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { clickhouseBindings, workerTestBindings } from '../support/bindings'

describe('the Worker under test', () => {
  it("should have only the tests' bindings and wrangler.toml's, never .dev.vars'", () => {
    const expected = new Set([
      ...Object.keys(workerTestBindings('http://fake')),
      ...Object.keys(clickhouseBindings('http://clickhouse')),
      'LOG_QUEUE', // wrangler.toml's Queue producer
    ])
    const unexpected = Object.keys(env).filter(
      // The pool's own plumbing (its runner object, loopback service, …) is bound too.
      (name) => !expected.has(name) && !name.startsWith('__VITEST_POOL_WORKERS_'),
    )
    expect(unexpected).toEqual([])
  })
})
