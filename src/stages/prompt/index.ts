/**
 * @module Prompt templates (checkpoint 7): `floopy-prompt-id` names a prompt of the caller's
 * organisation, `floopy-prompt-version` a version number or label (none: the version labelled
 * `production`, else the latest), and the body's `inputs` fill its `{{variables}}`
 * (`prompts/template.ts`). The template's messages come first, then the request's own; the
 * template's model and parameters are defaults the request's fields override; `inputs` never
 * reaches a provider. The answer says which version served it: `floopy-prompt-id`,
 * `floopy-prompt-version`.
 *
 * A request without the header passes untouched, at no cost. A memoised template costs no I/O
 * (`prompts/resolver.ts`): its freshness rides the admission round trip's config epoch.
 *
 * Errors: unknown prompt or version → 404 `PROMPT_NOT_FOUND`; a variable the template uses and
 * `inputs` lacks → 400 `PROMPT_VARIABLE_MISSING` naming every missing one; a malformed id or
 * version, `inputs` not an object, or a prompt on embeddings → 400 `INVALID_REQUEST`.
 */
import type { Context, MiddlewareHandler, Next } from 'hono'
import type { StageEnv } from '../../env'
import { GatewayError } from '../../errors'
import { applyPrompt } from '../../prompts/apply'
import type { PromptResolver } from '../../prompts/resolver'
import { PROMPT_ID, PROMPT_LABEL, type ResolvedPrompt } from '../../prompts/template'
import { scheduleAfterResponse } from '../after-response'
import type { AuthVariables } from '../authenticate'
import { toParsedRequest, type ParsedVariables } from '../parse-request'

export const PROMPT_ID_HEADER = 'floopy-prompt-id'
export const PROMPT_VERSION_HEADER = 'floopy-prompt-version'

const invalid = (message: string, param: string | null = null): GatewayError =>
  new GatewayError('INVALID_REQUEST', message, { param })

/** The prompt a request names: its id and version selector (a number or a label, or none). */
export type PromptSelection = { readonly id: string; readonly selector: string | undefined }

/** The prompt id and version selector a request names, checked; `undefined` without a header. */
export const promptSelection = (
  id: string | undefined,
  version: string | undefined,
): PromptSelection | undefined => {
  if (id === undefined) {
    if (version !== undefined) {
      throw invalid(`${PROMPT_VERSION_HEADER} needs ${PROMPT_ID_HEADER}.`)
    }
    return undefined
  }
  if (!PROMPT_ID.test(id)) {
    throw invalid(
      `Invalid ${PROMPT_ID_HEADER}: use 1-128 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit.`,
    )
  }
  if (version !== undefined && !/^[1-9][0-9]{0,8}$/.test(version) && !PROMPT_LABEL.test(version)) {
    throw invalid(`Invalid ${PROMPT_VERSION_HEADER}: use a version number or a label.`)
  }
  return { id, selector: version }
}

/** The request's `inputs`: an object, or none. */
export const inputsOf = (body: Readonly<Record<string, unknown>>): Record<string, unknown> => {
  const inputs = body.inputs
  if (inputs === undefined || inputs === null) return {}
  if (typeof inputs !== 'object' || Array.isArray(inputs)) {
    throw invalid("Invalid 'inputs': must be an object of variable values.", 'inputs')
  }
  return inputs as Record<string, unknown>
}

/** Applies `resolved` to `body`, or throws naming every variable `inputs` lacks. */
export const applyOrThrow = (
  resolved: ResolvedPrompt,
  body: Readonly<Record<string, unknown>>,
  inputs: Readonly<Record<string, unknown>>,
): Record<string, unknown> => {
  const applied = applyPrompt(resolved, body, inputs)
  if (!applied.ok) {
    const names = applied.missing.map((name) => `'${name}'`).join(', ')
    throw new GatewayError(
      'PROMPT_VARIABLE_MISSING',
      `The prompt '${resolved.prompt_id}' (version ${String(resolved.version)}) uses ${names}, missing from 'inputs'.`,
      { param: 'inputs' },
    )
  }
  return applied.body
}

/** The version a selection resolves to for the caller's organisation, or a 404. */
export const resolvePrompt = async (
  c: Context,
  resolver: PromptResolver,
  orgId: string,
  selection: { id: string; selector: string | undefined },
): Promise<ResolvedPrompt> => {
  const resolved = await resolver.resolve(
    orgId,
    selection.id,
    selection.selector,
    scheduleAfterResponse(c),
  )
  if (resolved === null) {
    throw new GatewayError(
      'PROMPT_NOT_FOUND',
      selection.selector === undefined
        ? `No prompt '${selection.id}' in this organisation.`
        : `No version '${selection.selector}' of the prompt '${selection.id}' in this organisation.`,
      { param: PROMPT_ID_HEADER },
    )
  }
  return resolved
}

export type PromptOptions = { readonly resolver: PromptResolver }

type PromptEnv = StageEnv<AuthVariables & ParsedVariables>

export const prompt = ({ resolver }: PromptOptions): MiddlewareHandler<PromptEnv> => {
  const apply = async (
    c: Context<PromptEnv>,
    next: Next,
    selection: PromptSelection,
  ): Promise<void> => {
    const request = c.get('request')
    if (request.kind !== 'chat') {
      throw invalid(`${PROMPT_ID_HEADER} applies to chat completions only.`)
    }
    const inputs = inputsOf(request.body)
    const resolved = await resolvePrompt(c, resolver, c.get('tenant').orgId, selection)
    c.set('request', toParsedRequest('chat', applyOrThrow(resolved, request.body, inputs)))
    c.get('trace').prompt = { id: resolved.prompt_id, version: resolved.version }
    await next()
    c.res.headers.set(PROMPT_ID_HEADER, resolved.prompt_id)
    c.res.headers.set(PROMPT_VERSION_HEADER, String(resolved.version))
  }
  // Not `async`: a request that names no prompt costs no promise here.
  return function prompt(c, next) {
    const selection = promptSelection(
      c.req.header(PROMPT_ID_HEADER),
      c.req.header(PROMPT_VERSION_HEADER),
    )
    return selection === undefined ? next() : apply(c, next, selection)
  }
}
