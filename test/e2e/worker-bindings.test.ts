/**
 * The `worker` test project's Worker (`test/support/wrangler-worker.ts`, used by vitest.config.ts)
 * is configured from the wrangler file alone: a `.dev.vars` or `.env` beside it, or the shell with
 * `CLOUDFLARE_INCLUDE_PROCESS_ENV=true`, does not reach its bindings. Each case runs against a
 * wrangler.toml in a temporary directory, never the repository's own `.dev.vars`.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { unstable_getMiniflareWorkerOptions } from 'wrangler'
import { wranglerWorker } from '../support/wrangler-worker.ts'

let dir: string
let configPath: string

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'floopy-worker-bindings-'))
  configPath = path.join(dir, 'wrangler.toml')
  await writeFile(
    configPath,
    [
      'name = "bindings-check"',
      'main = "index.ts"',
      'compatibility_date = "2026-11-01"',
      '[vars]',
      'DECLARED = "from wrangler.toml"',
      '',
    ].join('\n'),
  )
  await writeFile(path.join(dir, 'index.ts'), 'export default {}\n')
})

afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('the worker test project’s Worker', () => {
  it('should leave out .dev.vars, which wrangler would otherwise load', async () => {
    await writeFile(
      path.join(dir, '.dev.vars'),
      'FLOOPY_MAX_BODY_BYTES=1\nFLOOPY_VAULT_KEKS=local\nDECLARED=from .dev.vars\n',
    )
    // The control: the call the plugin makes for `wrangler: { configPath }` loads the file.
    const plain = unstable_getMiniflareWorkerOptions(configPath)
    expect(plain.workerOptions.bindings).toMatchObject({ FLOOPY_MAX_BODY_BYTES: '1' })

    expect(wranglerWorker(configPath).bindings).toEqual({ DECLARED: 'from wrangler.toml' })
  })

  it('should leave out .env and .env.local', async () => {
    await writeFile(path.join(dir, '.env'), 'FLOOPY_MAX_BODY_BYTES=1\n')
    await writeFile(path.join(dir, '.env.local'), 'OPENAI_API_KEY=sk-local\n')
    const plain = unstable_getMiniflareWorkerOptions(configPath)
    expect(plain.workerOptions.bindings).toMatchObject({ OPENAI_API_KEY: 'sk-local' })

    expect(wranglerWorker(configPath).bindings).toEqual({ DECLARED: 'from wrangler.toml' })
  })

  it('should leave out the shell even with CLOUDFLARE_INCLUDE_PROCESS_ENV=true', () => {
    const names = ['CLOUDFLARE_INCLUDE_PROCESS_ENV', 'OPENAI_API_KEY'] as const
    const saved = names.map((name) => process.env[name])
    try {
      process.env.CLOUDFLARE_INCLUDE_PROCESS_ENV = 'true'
      process.env.OPENAI_API_KEY = 'sk-from-the-shell'
      const plain = unstable_getMiniflareWorkerOptions(configPath)
      expect(plain.workerOptions.bindings).toMatchObject({ OPENAI_API_KEY: 'sk-from-the-shell' })

      expect(wranglerWorker(configPath).bindings).toEqual({ DECLARED: 'from wrangler.toml' })
    } finally {
      names.forEach((name, i) => {
        const value = saved[i]
        if (value === undefined) Reflect.deleteProperty(process.env, name)
        else process.env[name] = value
      })
    }
  })

  it("should keep the rest of wrangler.toml's Worker: entry point, Queue producer and consumer", () => {
    const root = fileURLToPath(new URL('../..', import.meta.url))
    const worker = wranglerWorker(path.join(root, 'wrangler.toml'))
    expect(worker.main).toBe(path.join(root, 'src', 'index.ts'))
    expect(worker.miniflare.compatibilityFlags).toContain('nodejs_compat')
    expect(worker.miniflare.queueProducers).toEqual({
      LOG_QUEUE: { queueName: 'floopy-request-logs' },
    })
    expect(Object.keys(worker.miniflare.queueConsumers ?? {})).toEqual(['floopy-request-logs'])
  })
})
