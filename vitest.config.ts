/**
 * Two test projects:
 * - `worker`: unit and integration tests that run inside workerd (the Workers runtime) through
 *   `@cloudflare/vitest-plugin`. The fake providers run in Node (started by the global setup) and
 *   the Worker under test reaches them over loopback HTTP, exactly as it reaches real providers.
 * - `e2e`: Node tests that start the production bundle under plain `workerd` and drive it with the
 *   official `openai` SDK, validating every response against the OpenAI spec.
 */
import { cloudflareTest } from '@cloudflare/vitest-plugin'
import { defineConfig } from 'vitest/config'
import { clickhouseBindings, workerTestBindings } from './test/support/bindings.ts'

export default defineConfig({
  test: {
    projects: [
      {
        plugins: [
          cloudflareTest(({ inject }) => ({
            wrangler: { configPath: './wrangler.toml' },
            miniflare: {
              bindings: {
                ...workerTestBindings(inject<string>('fakeProvidersUrl')),
                ...clickhouseBindings(inject<string>('clickhouseUrl')),
              },
            },
          })),
        ],
        test: {
          name: 'worker',
          include: ['src/**/*.test.ts', 'test/worker/**/*.test.ts'],
          globalSetup: ['./test/support/global-setup.ts'],
        },
      },
      {
        test: {
          name: 'e2e',
          environment: 'node',
          include: ['test/e2e/**/*.test.ts'],
          testTimeout: 30_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
})
