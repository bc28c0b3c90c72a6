/**
 * @module `prompt create|list|show|label|delete`: an organisation's prompt library. A prompt is a
 * list of immutable versions numbered 1, 2, …; labels (`production`, `staging`, …) point at
 * versions and move. Requests name a prompt with `floopy-prompt-id` and pick a version with
 * `floopy-prompt-version` (a number or a label; without it the `production` label's version, else
 * the latest) — see docs/prompts.md.
 *
 * A template file is `{ "messages": [...], "model"?: "...", "params"?: {...} }`, checked with the
 * gateway's own `PromptTemplateSchema` before anything is stored.
 */
import { readFile } from 'node:fs/promises'
import {
  DEFAULT_LABEL,
  PromptTemplateSchema,
  variablesOf,
  type PromptTemplate,
} from '../../../src/prompts/template.ts'
import { CliError, parseCommand, UsageError } from '../cli.ts'
import { fields, json, table } from '../output.ts'
import { firstIssue, type PromptVersionDetails } from '../rows.ts'
import { openOrgQuery, openSession, type Command, type Group } from '../session.ts'
import * as valid from '../validate.ts'

const errorCode = (error: unknown): string | undefined =>
  error instanceof Error && 'code' in error && typeof error.code === 'string'
    ? error.code
    : undefined

const READ_FAILURES: Record<string, string> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EISDIR: 'it is a directory',
}

/** The template in `file`, or a one-line `CliError` saying what is wrong with it. */
const readTemplate = async (file: string): Promise<PromptTemplate> => {
  const where = JSON.stringify(file)
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (error) {
    const code = errorCode(error) ?? 'unknown error'
    throw new CliError(`cannot read --template ${where}: ${READ_FAILURES[code] ?? code}`)
  }
  let data: unknown
  try {
    data = JSON.parse(text.replace(/^\uFEFF/, ''))
  } catch (error) {
    const reason = error instanceof Error ? (error.message.split('\n', 1)[0] ?? '') : ''
    throw new CliError(`--template ${where} is not JSON: ${reason}`)
  }
  const parsed = PromptTemplateSchema.safeParse(data)
  if (!parsed.success) {
    throw new CliError(`invalid template in ${where}: ${firstIssue(parsed.error)}`)
  }
  return parsed.data
}

/** `production=2 staging=3`, by label. */
const labelsText = (labels: Readonly<Record<string, number>>): string => {
  const entries = Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  return entries.length === 0 ? '-' : entries.map(([label, v]) => `${label}=${v}`).join(' ')
}

// eslint-disable-next-line no-control-regex -- replacing control characters is the point
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/g

/** A message's text for the terminal: line breaks kept, other control characters replaced. */
const contentText = (content: PromptTemplate['messages'][number]['content']): string => {
  if (typeof content === 'string') return content.replace(CONTROL, '?')
  if (!Array.isArray(content)) return '(no content)'
  return content
    .map((part) =>
      part.type === 'text' && typeof part.text === 'string'
        ? part.text.replace(CONTROL, '?')
        : `(${part.type.replace(CONTROL, '?')} part)`,
    )
    .join('\n')
}

/** The messages as `role: text`, continuation lines indented under the text. */
const messagesText = (template: PromptTemplate): string => {
  const width = Math.max(...template.messages.map((m) => m.role.length)) + 1
  return template.messages
    .map((m) => {
      const [first = '', ...rest] = contentText(m.content).split('\n')
      const indent = ' '.repeat(width + 3)
      return [`  ${`${m.role}:`.padEnd(width)} ${first}`, ...rest.map((l) => indent + l)]
        .map((line) => line.trimEnd())
        .join('\n')
    })
    .join('\n')
}

const versionFields = (row: PromptVersionDetails): string => {
  const own = Object.entries(row.labels)
    .filter(([, version]) => version === row.version)
    .map(([label]) => label)
    .sort()
  const { model, params } = row.template
  const variables = variablesOf(row.template)
  return `${fields([
    ['prompt', row.prompt_id],
    ['version', row.version],
    ['labels', own.join(', ')],
    ['created', row.created_at],
    ['model', model],
    ['params', params === undefined ? undefined : JSON.stringify(params)],
    ['variables', variables.join(', ')],
  ])}\nmessages:\n${messagesText(row.template)}`
}

const create: Command = {
  name: 'create',
  synopsis: '<org> <prompt-id> --template <file> [--json]',
  summary: 'add a new version of a prompt (creating the prompt)',
  help: `Stores the template in <file> as the next version of the organization's prompt
<prompt-id> (1 for a new prompt, then 2, 3, …). Versions never change: run create again to
change a prompt, then point a label at the new version with 'prompt label'. Requests without
floopy-prompt-version get the version labelled ${DEFAULT_LABEL}, else the latest.

<prompt-id> is 1-128 characters of a-z 0-9 . _ -, starting with a-z or 0-9.

The template file is JSON:
  {
    "messages": [
      { "role": "system", "content": "You answer in {{language}}." },
      { "role": "user", "content": "Summarise: {{text}}" }
    ],
    "model": "gpt-4o-mini",
    "params": { "temperature": 0.2 }
  }
"messages" is required; "model" and "params" (request fields such as temperature) are
optional. {{name}} is filled from the request's "inputs".

Options:
  --template <file>    the template file (required)
  --json               print {prompt_id, version, created_at} as JSON

Example:
  npm run admin -- prompt create acme summarise --template summarise.json`,
  run: async (ctx, args) => {
    const command = 'prompt create'
    const { values, positionals, globals } = parseCommand(
      command,
      args,
      { template: { type: 'string' }, json: { type: 'boolean' } },
      ['<org>', '<prompt-id>'],
    )
    if (values.template === undefined) throw new UsageError('missing --template', command)
    const ref = valid.orgRef(positionals[0] ?? '')
    const promptId = valid.promptId(positionals[1] ?? '')
    const template = await readTemplate(values.template)
    const session = await openSession(ctx, globals, command)
    const created = await session.store.createPromptVersion(ref, promptId, template)
    ctx.io.out(
      values.json === true
        ? json(created)
        : `Created version ${created.version} of prompt ${created.prompt_id} in ${ref}.`,
    )
    await session.changed()
  },
}

const list: Command = {
  name: 'list',
  synopsis: '<org> [--json]',
  summary: "list an organization's prompts",
  help: `Lists the organization's prompts: each one's latest version and its labels.

Options:
  --json    print the rows as JSON`,
  run: async (ctx, args) => {
    const { ref, store, asJson } = await openOrgQuery(ctx, args, 'prompt list')
    const prompts = await store.listPrompts(ref)
    if (asJson) ctx.io.out(json(prompts))
    else if (prompts.length === 0) ctx.io.out('No prompts.')
    else {
      ctx.io.out(
        table(
          ['PROMPT', 'LATEST', 'LABELS', 'UPDATED'],
          prompts.map((p) => [p.prompt_id, p.latest_version, labelsText(p.labels), p.updated_at]),
        ),
      )
    }
  },
}

const show: Command = {
  name: 'show',
  synopsis: '<org> <prompt-id> [--version <n|label>] [--json]',
  summary: 'show a version of a prompt and the variables it uses',
  help: `Shows one version of a prompt: its messages, model and params, the labels pointing at it,
and the variables ({{name}}) a request's "inputs" must fill.

Options:
  --version <n|label>    the version number, or a label (default: the version labelled
                         ${DEFAULT_LABEL}, else the latest), as floopy-prompt-version selects
  --json                 print {prompt_id, version, template, labels (all of the prompt's),
                         created_at, variables} as JSON`,
  run: async (ctx, args) => {
    const command = 'prompt show'
    const { values, positionals, globals } = parseCommand(
      command,
      args,
      { version: { type: 'string' }, json: { type: 'boolean' } },
      ['<org>', '<prompt-id>'],
    )
    const ref = valid.orgRef(positionals[0] ?? '')
    const promptId = valid.promptId(positionals[1] ?? '')
    const selector = values.version === undefined ? undefined : valid.promptSelector(values.version)
    const { store } = await openSession(ctx, globals, command)
    const row = await store.getPrompt(ref, promptId, selector)
    ctx.io.out(
      values.json === true
        ? json({ ...row, variables: variablesOf(row.template) })
        : versionFields(row),
    )
  },
}

const label: Command = {
  name: 'label',
  synopsis: '<org> <prompt-id> <version> <label>',
  summary: 'point a label at a version of a prompt',
  help: `Points <label> at version <version> of the prompt, creating the label or moving it from
the version it pointed at. Requests select a label with floopy-prompt-version; the label
${DEFAULT_LABEL} is what requests without one get.

<label> is 1-128 characters of a-z 0-9 . _ -, starting with a-z or 0-9, and not all digits
(a number selects a version).

Example:
  npm run admin -- prompt label acme summarise 3 ${DEFAULT_LABEL}`,
  run: async (ctx, args) => {
    const command = 'prompt label'
    const { positionals, globals } = parseCommand(command, args, {}, [
      '<org>',
      '<prompt-id>',
      '<version>',
      '<label>',
    ])
    const ref = valid.orgRef(positionals[0] ?? '')
    const promptId = valid.promptId(positionals[1] ?? '')
    const version = valid.promptVersion(positionals[2] ?? '')
    const name = valid.promptLabel(positionals[3] ?? '')
    const session = await openSession(ctx, globals, command)
    const prompt = await session.store.labelPrompt(ref, promptId, version, name)
    ctx.io.out(
      `Label ${name} of prompt ${prompt.prompt_id} points at version ${version}.\n` +
        fields([
          ['labels', labelsText(prompt.labels)],
          ['latest', prompt.latest_version],
        ]),
    )
    await session.changed()
  },
}

const remove: Command = {
  name: 'delete',
  synopsis: '<org> <prompt-id>',
  summary: 'delete a prompt with all its versions',
  help: `Deletes the prompt, all its versions and labels. Requests naming it fail from then on
(404); creating it again starts at version 1.`,
  run: async (ctx, args) => {
    const command = 'prompt delete'
    const { positionals, globals } = parseCommand(command, args, {}, ['<org>', '<prompt-id>'])
    const ref = valid.orgRef(positionals[0] ?? '')
    const promptId = valid.promptId(positionals[1] ?? '')
    const session = await openSession(ctx, globals, command)
    if (!(await session.store.deletePrompt(ref, promptId))) {
      throw new CliError(`organization ${ref} has no prompt ${promptId}`)
    }
    ctx.io.out(`Deleted prompt ${promptId} of ${ref} with all its versions.`)
    await session.changed()
  },
}

export const promptCommands: Group = {
  name: 'prompt',
  summary: 'prompt templates and their versions: create, list, show, label, delete',
  commands: [create, list, show, label, remove],
}
