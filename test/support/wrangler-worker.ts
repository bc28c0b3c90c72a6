/**
 * @module The `worker` project's Worker as `wrangler.toml` declares it — entry point,
 * compatibility settings, module rules, Queue producer and consumer, `[vars]` — and nothing from
 * the developer's machine.
 *
 * `cloudflareTest({ wrangler: { configPath } })` reads the configuration through wrangler, which
 * also loads `.dev.vars` next to it (or, without one, `.env`/`.env.local`, plus the whole shell
 * with `CLOUDFLARE_INCLUDE_PROCESS_ENV=true`) as secrets of the Worker under test. After
 * `npm run dev` that file holds the developer's keys, so the tests would run against their local
 * configuration. The plugin has no option to turn this off (it forwards only `configPath` and
 * `environment`), so the same wrangler call it makes, `unstable_getMiniflareWorkerOptions`, is
 * made here with `envFiles`: the option `wrangler dev --env-file` and `getPlatformProxy` use,
 * which makes wrangler read only the files listed instead of `.dev.vars` and `.env`. The one
 * listed is `worker-test.env`, empty on purpose. The option is implemented by wrangler's shared
 * dev-vars loader but not declared on this function's type, so the bindings are also filtered to
 * the names `wrangler.toml` declares: should the option ever stop working, local values still
 * cannot reach the Worker (and `test/e2e/worker-bindings.test.ts` fails).
 *
 * What the plugin's `wrangler` option does beyond that call — pointing service bindings, Durable
 * Objects and tail consumers that name this Worker at its test runner — has nothing to act on in
 * `wrangler.toml` today; revisit this if it gains such bindings.
 */
import { fileURLToPath } from 'node:url'
import type { Json } from 'miniflare'
import { unstable_getMiniflareWorkerOptions, unstable_readConfig } from 'wrangler'

/** Listed as the Worker's only env file, so wrangler reads no `.dev.vars` or `.env`. */
export const WORKER_TEST_ENV_FILE = fileURLToPath(new URL('./worker-test.env', import.meta.url))

type Options = NonNullable<Parameters<typeof unstable_getMiniflareWorkerOptions>[2]>
type WorkerOptions = ReturnType<typeof unstable_getMiniflareWorkerOptions>['workerOptions']

export type WranglerWorker = {
  /** Absolute path of the entry point (`main`). */
  main: string
  /** Miniflare options of the Worker under test, text and JSON bindings aside. */
  miniflare: WorkerOptions
  /** Text and JSON bindings: `wrangler.toml`'s `[vars]` only. */
  bindings: Record<string, Json>
}

/** The Worker `configPath` declares, with the bindings it declares and no local secrets. */
export const wranglerWorker = (configPath: string): WranglerWorker => {
  // wrangler's `Config` type comes from a package that is bundled into wrangler, not installed.
  const { vars } = unstable_readConfig({ config: configPath }) as unknown as {
    vars: Record<string, unknown>
  }
  const options: Options & { envFiles: string[] } = {
    envFiles: [WORKER_TEST_ENV_FILE],
    overrides: { enableContainers: false },
  }
  const { workerOptions, main } = unstable_getMiniflareWorkerOptions(configPath, undefined, options)
  if (main === undefined) throw new Error(`${configPath}: no main`)
  const bindings: Record<string, Json> = {}
  for (const [name, value] of Object.entries(workerOptions.bindings ?? {})) {
    if (Object.hasOwn(vars, name)) bindings[name] = value as Json
  }
  return { main, miniflare: { ...workerOptions, bindings: {} }, bindings }
}
