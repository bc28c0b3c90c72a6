/**
 * @module The launcher that runs the production bundle under plain workerd (scripts/workerd.ts):
 * it builds and serves the real gateway, passes text bindings through the Cap'n Proto config
 * unchanged, reports workerd's memory, explains startup failures, and frees its port on close.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  bindingsFromEnv,
  buildBundle,
  readWranglerSettings,
  startGateway,
} from '../../scripts/workerd.ts'

/** Quotes, backslashes, escape look-alikes, control characters and non-ASCII: everything a naive
 * Cap'n Proto string literal would break or silently change. */
const awkwardValue = [
  'he said "hi" \\ and left',
  'C:\\path\\to\\"file"',
  String.raw`already-escaped: \" \\ \n \x41 \u0041`,
  JSON.stringify([{ id: 'local', baseUrl: 'http://127.0.0.1:1/v1', note: 'a "quoted" \\ value' }]),
  'line\nbreak\ttab\r\u0001 control',
  'ünïcödé 日本語 🎉',
  '${not a template} # not a comment',
].join('|')

/** Whether a listener can bind the port now, i.e. nothing else holds it. */
async function portIsFree(port: number): Promise<boolean> {
  const server = createServer()
  return new Promise((resolve) => {
    server.once('error', () => {
      resolve(false)
    })
    server.listen(port, '127.0.0.1', () => {
      server.close(() => {
        resolve(true)
      })
    })
  })
}

describe('scripts/workerd.ts', () => {
  let bundle: string
  let scratch: string

  beforeAll(async () => {
    bundle = await buildBundle()
    scratch = await mkdtemp(path.join(tmpdir(), 'workerd-launcher-test-'))
  })

  afterAll(async () => {
    await rm(scratch, { recursive: true, force: true })
  })

  it('serves the production bundle, reports its memory and frees the port on close', async () => {
    const gateway = await startGateway({
      bundle,
      bindings: {
        FLOOPY_DEV_API_KEY: 'flo_sk_launcher_test_key',
        OPENAI_API_KEY: 'sk-launcher-test',
        OPENAI_BASE_URL: 'http://127.0.0.1:9/v1',
        // A valid configuration whose JSON carries quotes and backslashes: the gateway must start
        // with it. What it reads back is checked with the echo Worker below, since the gateway
        // does not expose its bindings.
        FLOOPY_CUSTOM_PROVIDERS: JSON.stringify([
          {
            id: 'local',
            baseUrl: 'http://127.0.0.1:9/v1',
            apiKey: 'key with "quotes", a \\ backslash and \\"both\\"',
          },
        ]),
      },
    })
    const port = Number(new URL(gateway.url).port)
    try {
      expect(gateway.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
      const response = await fetch(`${gateway.url}/healthz`)
      await response.arrayBuffer()
      // The launcher's contract is that workerd serves; what /healthz answers is the gateway's.
      expect(response.status).toBeGreaterThanOrEqual(200)
      expect(response.status).toBeLessThan(600)
      expect(await gateway.rssBytes()).toBeGreaterThan(1024 * 1024)
      expect(await portIsFree(port)).toBe(false)
    } finally {
      await gateway.close()
    }
    expect(await portIsFree(port)).toBe(true)
    await expect(gateway.rssBytes()).rejects.toThrow()
    // close() is idempotent, so a test's cleanup can call it again safely.
    await gateway.close()
  })

  it('passes text bindings to the Worker byte for byte', async () => {
    const echo = path.join(scratch, 'echo.js')
    await writeFile(echo, 'export default { fetch(request, env) { return Response.json(env) } }\n')
    const bindings = {
      AWKWARD: awkwardValue,
      EMPTY: '',
      NUL: 'before\u0000after',
      'FLOOPY_WITH-DASH': 'dash',
    }
    const gateway = await startGateway({ bundle: echo, bindings })
    try {
      const seen: unknown = await (await fetch(gateway.url)).json()
      expect(seen).toEqual(bindings)
    } finally {
      await gateway.close()
    }
  })

  it("should hand workerd's output to onOutputLine one whole line at a time", async () => {
    const talker = path.join(scratch, 'talker.js')
    await writeFile(
      talker,
      "export default { fetch() { console.error('first line'); console.log('second line'); " +
        "return new Response('ok') } }\n",
    )
    const lines: string[] = []
    const gateway = await startGateway({
      bundle: talker,
      bindings: {},
      onOutputLine: (line) => lines.push(line),
    })
    try {
      await (await fetch(gateway.url)).text()
      await expect.poll(() => lines.join('\n')).toContain('second line')
      expect(lines.some((line) => line.endsWith('first line'))).toBe(true)
      expect(lines.some((line) => line.includes('\n'))).toBe(false)
    } finally {
      await gateway.close()
    }
  })

  it('listens on the requested port', async () => {
    const echo = path.join(scratch, 'ok.js')
    await writeFile(echo, "export default { fetch() { return new Response('ok') } }\n")
    const first = await startGateway({ bundle: echo, bindings: {} })
    const port = Number(new URL(first.url).port)
    await first.close()
    const second = await startGateway({ bundle: echo, bindings: {}, port })
    try {
      expect(second.url).toBe(`http://127.0.0.1:${port}`)
      expect(await (await fetch(second.url)).text()).toBe('ok')
    } finally {
      await second.close()
    }
  })

  it("fails fast with workerd's own error when the bundle cannot load", async () => {
    const broken = path.join(scratch, 'broken.js')
    await writeFile(broken, 'export default { fetch() { return oops( }\n')
    const started = Date.now()
    await expect(startGateway({ bundle: broken, bindings: {} })).rejects.toThrow(
      /workerd exited[\s\S]*SyntaxError/,
    )
    expect(Date.now() - started).toBeLessThan(10_000)
  })

  it('reads the compatibility settings from wrangler.toml', async () => {
    const file = path.join(scratch, 'wrangler.toml')
    await writeFile(
      file,
      [
        'name = "x" # a comment',
        'main = "src/entry.ts"',
        "compatibility_date = '2025-01-02'",
        'compatibility_flags = [',
        '  "nodejs_compat", # why',
        '  "another_flag",',
        ']',
        '[env.staging]',
        'compatibility_date = "2030-01-01"',
      ].join('\n'),
    )
    expect(await readWranglerSettings(file)).toEqual({
      main: 'src/entry.ts',
      compatibilityDate: '2025-01-02',
      compatibilityFlags: ['nodejs_compat', 'another_flag'],
    })
  })

  it('takes only gateway configuration from the environment', () => {
    expect(
      bindingsFromEnv({
        FLOOPY_DEV_API_KEY: 'k',
        FLOOPY_CUSTOM_PROVIDERS: '[]',
        OPENAI_API_KEY: 'o',
        GROQ_BASE_URL: 'g',
        TOGETHER_API_KEY: 't',
        SUPABASE_URL: 's',
        SUPABASE_SERVICE_ROLE_KEY: 'sk',
        UPSTASH_REDIS_REST_URL: 'u',
        UPSTASH_REDIS_REST_TOKEN: 'ut',
        SUPABASE_ANON_KEY: 'no',
        OPENAI_ORG_ID: 'no',
        AWS_API_KEY: 'no',
        PATH: '/usr/bin',
        HOME: '/root',
      }),
    ).toEqual({
      FLOOPY_DEV_API_KEY: 'k',
      FLOOPY_CUSTOM_PROVIDERS: '[]',
      OPENAI_API_KEY: 'o',
      GROQ_BASE_URL: 'g',
      TOGETHER_API_KEY: 't',
      SUPABASE_URL: 's',
      SUPABASE_SERVICE_ROLE_KEY: 'sk',
      UPSTASH_REDIS_REST_URL: 'u',
      UPSTASH_REDIS_REST_TOKEN: 'ut',
    })
  })
})
