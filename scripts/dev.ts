/**
 * @module `npm run dev` / `npm start`: the gateway on this machine with wrangler (miniflare) and no
 * external service — the embedded default.
 *
 * Configuration comes from the shell (provider keys and base URLs, e.g. `OPENAI_API_KEY`) and from
 * `.dev.vars`, which wins. The dev organisation's key, `FLOOPY_DEV_API_KEY`, and the vault keyring,
 * `FLOOPY_VAULT_KEKS`, are generated into `.dev.vars` on first run and the key printed, so a
 * newcomer can call the gateway at once. Organisations and keys made with `npm run admin` (local
 * store, `.floopy/tenants.json`) are handed to the gateway as `FLOOPY_TENANTS`; restart after a
 * change.
 *
 * With no provider configured (see `configuredProviders`), the demo endpoint
 * (`scripts/demo-provider.ts`) is started here first and handed to the gateway as the custom
 * provider `demo`, so the printed curl line answers (model `demo/echo`); it stops with wrangler.
 * It goes through the same env file as the shell's variables, never into `.dev.vars`.
 */
import { spawn } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { generateApiKey } from '../src/security/api-key.ts'
import { generateDevKeyring, KEYRING_VAR, parseEnvFile } from './admin/keyring.ts'
import {
  DEMO_MODEL,
  DEMO_PROVIDER_ID,
  demoCustomProviders,
  startDemoProvider,
  type DemoProvider,
} from './demo-provider.ts'

const root = fileURLToPath(new URL('..', import.meta.url))
const devVarsPath = path.join(root, '.dev.vars')
const shellEnvPath = path.join(root, '.wrangler', 'floopy-shell.env')
const tenantsPath = path.join(root, '.floopy', 'tenants.json')
const port = process.env.PORT ?? '8787'

const CONFIG_NAME =
  /^(?:FLOOPY_[A-Z0-9_]+|(?:OPENAI|ANTHROPIC|GEMINI|GROQ|MISTRAL|DEEPSEEK|TOGETHER)_(?:API_KEY|BASE_URL)|SUPABASE_(?:URL|SERVICE_ROLE_KEY)|UPSTASH_REDIS_REST_(?:URL|TOKEN)|QDRANT_(?:URL|API_KEY))$/

/** A built-in provider's key or base URL; either one configures it (`src/env.ts`). */
const PROVIDER_NAME =
  /^(OPENAI|ANTHROPIC|GEMINI|GROQ|MISTRAL|DEEPSEEK|TOGETHER)_(?:API_KEY|BASE_URL)$/

/**
 * Amazon Bedrock's variables, read from `.dev.vars` only: AWS credentials in a developer's shell
 * are usually there for something else, and are never handed to the gateway unasked.
 */
const BEDROCK_NAMES = ['AWS_ACCESS_KEY_ID', 'AWS_BEARER_TOKEN_BEDROCK', 'BEDROCK_BASE_URL']

/**
 * The providers the gateway will have, by id, from the shell's variables and `.dev.vars` (which
 * wins, as it does for wrangler): each built-in provider with a key or base URL, Bedrock with
 * credentials or a base URL in `.dev.vars`, and `custom endpoints` for `FLOOPY_CUSTOM_PROVIDERS`.
 * An empty value counts as unset. Empty: none is configured, and `npm run dev` starts the demo
 * endpoint.
 */
export const configuredProviders = (
  shell: Readonly<Record<string, string | undefined>>,
  devVars: ReadonlyMap<string, string>,
): string[] => {
  const value = (name: string): string => (devVars.get(name) ?? shell[name] ?? '').trim()
  const names = new Set([...Object.keys(shell), ...devVars.keys()])
  const providers = new Set<string>()
  for (const name of names) {
    const provider = PROVIDER_NAME.exec(name)?.[1]
    if (provider !== undefined && value(name) !== '') providers.add(provider.toLowerCase())
  }
  if (BEDROCK_NAMES.some((name) => (devVars.get(name) ?? '').trim() !== '')) {
    providers.add('bedrock')
  }
  const sorted = [...providers].sort()
  return value('FLOOPY_CUSTOM_PROVIDERS') === '' ? sorted : [...sorted, 'custom endpoints']
}

/**
 * A value as wrangler's dotenv parser reads it back unchanged. Double quotes would not do: dotenv
 * keeps a `\"` inside them as two characters, which breaks JSON values. Single quotes are literal;
 * a value holding one goes in backticks (also literal).
 */
const quote = (value: string): string => {
  if (/[\r\n]/.test(value)) throw new Error('a configuration value spans lines; put it on one line')
  if (!value.includes("'")) return `'${value}'`
  if (!value.includes('`')) return `\`${value}\``
  throw new Error('a configuration value holds both quote kinds; wrangler cannot read it back')
}

/** JSON on one line with no quote a dotenv value cannot hold (`'` and backtick only occur in strings). */
export const jsonForEnvFile = (json: string): string =>
  JSON.stringify(JSON.parse(json)).replaceAll("'", '\\u0027').replaceAll('`', '\\u0060')

const main = async (): Promise<void> => {
  const devVars = existsSync(devVarsPath)
    ? parseEnvFile(readFileSync(devVarsPath, 'utf8'))
    : new Map<string, string>()

  let key = devVars.get('FLOOPY_DEV_API_KEY') ?? process.env.FLOOPY_DEV_API_KEY
  if (key === undefined) {
    key = generateApiKey('test')
    const existing = existsSync(devVarsPath) ? readFileSync(devVarsPath, 'utf8') : ''
    const separator = existing === '' || existing.endsWith('\n') ? '' : '\n'
    writeFileSync(
      devVarsPath,
      `${existing}${separator}# Generated by npm run dev: the dev organisation's gateway key.\n` +
        `FLOOPY_DEV_API_KEY=${quote(key)}\n`,
      { mode: 0o600 },
    )
    console.log(`Generated a dev key into ${path.relative(root, devVarsPath)}.`)
  }

  if (!devVars.has(KEYRING_VAR) && process.env[KEYRING_VAR] === undefined) {
    await generateDevKeyring(devVarsPath)
    console.log(
      `Generated a vault keyring (${KEYRING_VAR}) into ${path.relative(root, devVarsPath)}.`,
    )
  }

  // Shell variables the gateway reads, handed to wrangler through an env file (not argv, where
  // other local users could read secrets). `.dev.vars` is loaded after it and wins.
  // An empty one counts as unset, as in the shell: the gateway would refuse it as invalid.
  const fromShell = Object.entries(process.env).filter(
    (entry): entry is [string, string] =>
      CONFIG_NAME.test(entry[0]) && entry[1] !== undefined && entry[1].trim() !== '',
  )
  let tenantsLine = 'none yet — npm run admin -- org create <slug>, then key issue <slug>'
  if (existsSync(tenantsPath)) {
    const text = readFileSync(tenantsPath, 'utf8')
    const tenants = JSON.parse(text) as { organizations?: unknown[]; api_keys?: unknown[] }
    fromShell.push(['FLOOPY_TENANTS', jsonForEnvFile(text)])
    tenantsLine =
      `${String(tenants.organizations?.length ?? 0)} organisation(s), ` +
      `${String(tenants.api_keys?.length ?? 0)} key(s) from ${path.relative(root, tenantsPath)}`
  }
  const providers = configuredProviders(process.env, devVars)
  let demo: DemoProvider | undefined
  if (providers.length === 0) {
    demo = await startDemoProvider()
    fromShell.push(['FLOOPY_CUSTOM_PROVIDERS', jsonForEnvFile(demoCustomProviders(demo.url))])
  }
  mkdirSync(path.dirname(shellEnvPath), { recursive: true })
  writeFileSync(shellEnvPath, fromShell.map(([k, v]) => `${k}=${quote(v)}\n`).join(''), {
    mode: 0o600,
  })
  chmodSync(shellEnvPath, 0o600)

  const base = `http://127.0.0.1:${port}`
  const providersLine =
    demo === undefined
      ? providers.join(', ')
      : `none configured, so a demo endpoint is running at ${demo.url}:
             ${DEMO_PROVIDER_ID}/${DEMO_MODEL} echoes your last message back (not a real model).
             For a real provider, set its key in your shell or .dev.vars and restart, e.g.
             OPENAI_API_KEY=sk-... npm run dev   (README: "Providers", "Custom endpoints")`
  const model = demo === undefined ? 'openai/gpt-4o-mini' : `${DEMO_PROVIDER_ID}/${DEMO_MODEL}`
  const embeddingModel = devVars.get('FLOOPY_EMBEDDING_MODEL') ?? process.env.FLOOPY_EMBEDDING_MODEL
  const cacheLine =
    `in this process's memory, all three tiers (exact, semantic, bucketed); ` +
    (embeddingModel === undefined || embeddingModel.trim() === ''
      ? `embeddings from a local deterministic embedder (hashed n-grams; set FLOOPY_EMBEDDING_MODEL for a real one).
             Off unless asked: header floopy-cache-enabled: true, or npm run admin -- org set <org> --cache on`
      : `embeddings from ${embeddingModel}.
             Off unless asked: header floopy-cache-enabled: true, or npm run admin -- org set <org> --cache on`)
  console.log(`
Floopy gateway (embedded default: no external services)
  URL:       ${base}/v1   (OpenAI SDK baseURL)
  API key:   ${key}
  Tenants:   ${tenantsLine}
  Providers: ${providersLine}
  Cache:     ${cacheLine}

Try it:
  curl ${base}/v1/chat/completions \\
    -H "Authorization: Bearer ${key}" -H "Content-Type: application/json" \\
    -d '{"model":"${model}","messages":[{"role":"user","content":"Hello"}]}'
`)

  const envFiles = [shellEnvPath, ...(existsSync(devVarsPath) ? [devVarsPath] : [])]
  const child = spawn(
    'wrangler',
    [
      'dev',
      '--ip',
      '127.0.0.1',
      '--port',
      port,
      '--var',
      'FLOOPY_ACCESS_LOG:true',
      ...envFiles.flatMap((file) => ['--env-file', file]),
      ...process.argv.slice(2),
    ],
    {
      cwd: root,
      stdio: 'inherit',
      env: {
        ...process.env,
        CLOUDFLARE_CF_FETCH_ENABLED: process.env.CLOUDFLARE_CF_FETCH_ENABLED ?? 'false',
        WRANGLER_SEND_METRICS: process.env.WRANGLER_SEND_METRICS ?? 'false',
      },
    },
  )
  const forward = (signal: NodeJS.Signals): void => {
    child.kill(signal)
  }
  process.on('SIGINT', forward)
  process.on('SIGTERM', forward)
  const exit = async (code: number): Promise<void> => {
    await demo?.close()
    process.exit(code)
  }
  child.on('error', (error) => {
    console.error(`could not start wrangler: ${error.message}`)
    void exit(1)
  })
  child.on('exit', (code, signal) => {
    void exit(code ?? (signal === null ? 0 : 1))
  })
}

if (import.meta.url === `file://${process.argv[1] ?? ''}`) await main()
