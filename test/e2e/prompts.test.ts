/**
 * Prompt templates end to end: two production gateways (two isolates) against real Postgres and
 * Redis, prompts created and labelled with the admin CLI, requests made with the official openai
 * SDK (`defaultHeaders` + `inputs` in the body). A label moved with the CLI while both gateways
 * have the old version memoised takes effect on the next request of each.
 */
import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import OpenAI from 'openai'
import type { ChatCompletionCreateParams } from 'openai/resources/chat/completions'
import { describe, expect, it } from 'vitest'
import { createOrg, issueKey, useTenancyRig, type Rig } from '../support/tenancy.ts'
import { expectValid } from '../support/e2e.ts'

const rig = useTenancyRig()
const exec = promisify(execFile)

const admin = async (r: Rig, ...args: string[]): Promise<string> => {
  const { stdout } = await exec(process.execPath, ['scripts/admin.ts', ...args], {
    env: { ...process.env, ...r.adminEnv },
  })
  return stdout
}

/** Writes `template` to a file and adds it as the prompt's next version; the version number. */
const addVersion = async (r: Rig, org: string, id: string, template: unknown): Promise<number> => {
  const dir = await mkdtemp(path.join(tmpdir(), 'floopy-prompt-'))
  try {
    const file = path.join(dir, 'template.json')
    await writeFile(file, JSON.stringify(template))
    const out = JSON.parse(
      await admin(r, 'prompt', 'create', org, id, '--template', file, '--json'),
    ) as {
      version: number
    }
    return out.version
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

/** What the fake provider received for `tag`. */
const received = (r: Rig, tag: string): Record<string, unknown>[] =>
  r.fake.requests
    .filter((entry) => entry.tag === tag)
    .map((entry) => entry.body as Record<string, unknown>)

const clientFor = (r: Rig, key: string, which: 0 | 1, headers: Record<string, string>) =>
  new OpenAI({
    baseURL: `${r.gateways[which].url}/v1`,
    apiKey: key,
    maxRetries: 0,
    defaultHeaders: headers,
  })

/** A request whose model and messages come from the template; `inputs` in the body. */
const templated = (inputs: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  ({ messages: [], inputs, ...extra }) as unknown as ChatCompletionCreateParams & { stream?: false }

describe('prompt templates through the openai SDK', () => {
  it('should fill the production version, tools and response_format included', async () => {
    const r = rig()
    const org = await createOrg(r)
    const { key } = await issueKey(r, org)
    await addVersion(r, org.slug, 'extract', {
      model: 'openai/gpt-4o-mini',
      messages: [
        { role: 'system', content: 'Extract {{field}} as JSON. Literal: {{ raw }}' },
        { role: 'user', content: [{ type: 'text', text: '{{document}}' }] },
      ],
      params: {
        temperature: 0,
        response_format: { type: 'json_object' },
        tools: [
          {
            type: 'function',
            function: {
              name: 'save',
              parameters: { type: 'object', properties: { value: { type: 'string' } } },
            },
          },
        ],
        tool_choice: 'auto',
      },
    })
    const tag = crypto.randomUUID()
    const client = clientFor(r, key, 0, { 'floopy-prompt-id': 'extract', 'x-fake-tag': tag })
    const { data, response } = await client.chat.completions
      .create(
        templated({ field: 'the total', raw: '{{not a variable}}', document: { total: 12.5 } }),
      )
      .withResponse()
    expectValid('CreateChatCompletionResponse', data)
    expect(response.headers.get('floopy-prompt-id')).toBe('extract')
    expect(response.headers.get('floopy-prompt-version')).toBe('1')
    const [sent] = received(r, tag)
    expect(sent).toMatchObject({
      model: 'gpt-4o-mini',
      temperature: 0,
      response_format: { type: 'json_object' },
      tool_choice: 'auto',
      messages: [
        { role: 'system', content: 'Extract the total as JSON. Literal: {{not a variable}}' },
        { role: 'user', content: [{ type: 'text', text: '{"total":12.5}' }] },
      ],
    })
    expect(sent).not.toHaveProperty('inputs')
  })

  it('should stream a templated request', async () => {
    const r = rig()
    const org = await createOrg(r)
    const { key } = await issueKey(r, org)
    await addVersion(r, org.slug, 'hello', {
      model: 'openai/gpt-4o-mini',
      messages: [{ role: 'user', content: 'Say hello to {{name}}' }],
    })
    const client = clientFor(r, key, 1, { 'floopy-prompt-id': 'hello' })
    const stream = await client.chat.completions.create({
      ...templated({ name: 'Ada' }),
      stream: true,
      stream_options: { include_usage: true },
    })
    let chunks = 0
    for await (const chunk of stream) {
      expectValid('CreateChatCompletionStreamResponse', chunk)
      chunks++
    }
    expect(chunks).toBeGreaterThan(1)
  })

  it('should refuse missing variables naming them, as an SDK BadRequestError', async () => {
    const r = rig()
    const org = await createOrg(r)
    const { key } = await issueKey(r, org)
    await addVersion(r, org.slug, 'two', {
      model: 'openai/gpt-4o-mini',
      messages: [{ role: 'user', content: '{{a}} and {{b}}' }],
    })
    const client = clientFor(r, key, 0, { 'floopy-prompt-id': 'two' })
    const error = await client.chat.completions
      .create(templated({ c: 'extra', a: 1 }))
      .catch((err: unknown) => err)
    expect(error).toBeInstanceOf(OpenAI.BadRequestError)
    const apiError = error as InstanceType<typeof OpenAI.BadRequestError>
    expect(apiError.code).toBe('PROMPT_VARIABLE_MISSING')
    expect(apiError.param).toBe('inputs')
    expect(apiError.message).toContain("'b'")
    expectValid('ErrorResponse', { error: apiError.error })
  })

  it('should resolve by number and by label, and answer 404 for one that does not exist', async () => {
    const r = rig()
    const org = await createOrg(r)
    const { key } = await issueKey(r, org)
    for (const word of ['one', 'two', 'three']) {
      await addVersion(r, org.slug, 'counted', {
        model: 'openai/gpt-4o-mini',
        messages: [{ role: 'user', content: word }],
      })
    }
    await admin(r, 'prompt', 'label', org.slug, 'counted', '2', 'production')
    await admin(r, 'prompt', 'label', org.slug, 'counted', '3', 'staging')
    const version = async (selector?: string): Promise<string | null> => {
      const client = clientFor(r, key, 0, {
        'floopy-prompt-id': 'counted',
        ...(selector === undefined ? {} : { 'floopy-prompt-version': selector }),
      })
      const { response } = await client.chat.completions.create(templated({})).withResponse()
      return response.headers.get('floopy-prompt-version')
    }
    expect(await version()).toBe('2')
    expect(await version('1')).toBe('1')
    expect(await version('staging')).toBe('3')
    const missing = await clientFor(r, key, 0, {
      'floopy-prompt-id': 'counted',
      'floopy-prompt-version': '4',
    })
      .chat.completions.create(templated({}))
      .catch((err: unknown) => err)
    expect(missing).toBeInstanceOf(OpenAI.NotFoundError)
  })
})

describe('moving a label while two gateways run', () => {
  it('should serve the new version on the next request of every isolate', async () => {
    const r = rig()
    const org = await createOrg(r)
    const { key } = await issueKey(r, org)
    for (const word of ['old', 'new']) {
      await addVersion(r, org.slug, 'moving', {
        model: 'openai/gpt-4o-mini',
        messages: [{ role: 'user', content: word }],
      })
    }
    await admin(r, 'prompt', 'label', org.slug, 'moving', '1', 'production')
    const served = async (which: 0 | 1): Promise<string | null> => {
      const { response } = await clientFor(r, key, which, { 'floopy-prompt-id': 'moving' })
        .chat.completions.create(templated({}))
        .withResponse()
      return response.headers.get('floopy-prompt-version')
    }
    // Both isolates memoise version 1.
    for (const which of [0, 1] as const) {
      expect(await served(which)).toBe('1')
      expect(await served(which)).toBe('1')
    }
    await admin(r, 'prompt', 'label', org.slug, 'moving', '2', 'production')
    // The very next request of each gateway sees it — sooner than any time limit could say: the
    // config epoch the CLI bumped rides that request's admission round trip.
    expect(await served(0)).toBe('2')
    expect(await served(1)).toBe('2')
  })
})
