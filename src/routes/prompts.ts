/**
 * @module `POST /v1/prompts/{id}/render`: a prompt template filled with `inputs`, without calling a
 * model — the messages, model and parameters a chat completion with `floopy-prompt-id: {id}`
 * would send, and the version that would serve it. Same resolution and errors as the pipeline's
 * prompt stage (`stages/prompt`); body `{ "inputs"?: {...}, "version"?: number | label }`.
 */
import type { Handler } from 'hono'
import type { StageEnv } from '../env'
import { GatewayError } from '../errors'
import type { PromptResolver } from '../prompts/resolver'
import type { AuthVariables } from '../stages/authenticate'
import type { BodyVariables } from '../stages/body-limit'
import { decodeBody } from '../stages/parse-request'
import { applyOrThrow, inputsOf, promptSelection, resolvePrompt } from '../stages/prompt'

export type RenderOptions = { readonly resolver: PromptResolver }

type RenderEnv = StageEnv<BodyVariables & AuthVariables>

export const renderPrompt = ({ resolver }: RenderOptions): Handler<RenderEnv> =>
  async function renderPrompt(c) {
    const body = c.get('rawBody') === '' ? {} : decodeBody(c.get('rawBody'))
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new GatewayError('INVALID_REQUEST', 'The request body must be a JSON object.')
    }
    const { version } = body as { version?: unknown }
    if (version !== undefined && typeof version !== 'string' && typeof version !== 'number') {
      throw new GatewayError('INVALID_REQUEST', "Invalid 'version': a number or a label.", {
        param: 'version',
      })
    }
    const selection = promptSelection(
      c.req.param('id') ?? '',
      version === undefined ? undefined : String(version),
    )
    if (selection === undefined) throw new GatewayError('NOT_FOUND', 'No prompt id in the path.')
    const inputs = inputsOf(body as Record<string, unknown>)
    const resolved = await resolvePrompt(c, resolver, c.get('tenant').orgId, selection)
    // Applied exactly as to a chat completion with no fields of its own.
    const { messages, model = null, ...params } = applyOrThrow(resolved, {}, inputs)
    c.header('floopy-prompt-id', resolved.prompt_id)
    c.header('floopy-prompt-version', String(resolved.version))
    return c.json({
      object: 'prompt.render',
      prompt_id: resolved.prompt_id,
      version: resolved.version,
      model,
      messages,
      params,
    })
  }
