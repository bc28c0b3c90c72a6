/**
 * Two test projects:
 * - `worker`: unit and integration tests that run inside workerd (the Workers runtime) through
 *   `@cloudflare/vitest-plugin`. The fake providers run in Node (started by the global setup) and
 *   the Worker under test reaches them over loopback HTTP, exactly as it reaches real providers.
 *   The Worker is the one `wrangler.toml` declares, with the tests' bindings and never the
 *   developer's `.dev.vars` (`test/support/wrangler-worker.ts`).
 * - `e2e`: Node tests that start the production bundle under plain `workerd` and drive it with the
 *   official `openai` SDK, validating every response against the OpenAI spec.
 */
import { fileURLToPath } from 'node:url'
import { cloudflareTest } from '@cloudflare/vitest-plugin'
import { defineConfig } from 'vitest/config'
import { clickhouseBindings, workerTestBindings } from './test/support/bindings.ts'
import { wranglerWorker } from './test/support/wrangler-worker.ts'

const wranglerToml = fileURLToPath(new URL('./wrangler.toml', import.meta.url))

export default defineConfig({
  test: {
    projects: [
      {
        plugins: [
          cloudflareTest(({ inject }) => {
            // wrangler.toml's Worker without the developer's .dev.vars/.env (wrangler-worker.ts).
            const worker = wranglerWorker(wranglerToml)
            return {
              main: worker.main,
              miniflare: {
                ...worker.miniflare,
                bindings: {
                  ...worker.bindings,
                  ...workerTestBindings(inject<string>('fakeProvidersUrl')),
                  ...clickhouseBindings(inject<string>('clickhouseUrl')),
                },
              },
            }
          }),
        ],
        test: {
          name: 'worker',
          include: ['src/**/*.test.ts', 'test/worker/**/*.test.ts'],
          globalSetup: ['./test/support/global-setup.ts'],
          // Integration tests go through the whole pipeline inside workerd; on a busy machine the
          // first request of a file alone (module load, key hashing) can take seconds. A timeout
          // is a hang detector here, never a speed check.
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'e2e',
          environment: 'node',
          include: ['test/e2e/**/*.test.ts'],
          // A hang detector, never a speed check: a test that runs the admin CLI a dozen times
          // spawns a dozen Node processes, which a busy 2-core machine can stretch past a minute.
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
})
