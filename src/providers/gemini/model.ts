/**
 * @module Gemini model names and the URLs built from them.
 *
 * The model comes from the client and is interpolated into the URL path
 * (`/v1beta/{model=models/*}:generateContent`, specs/gemini/NOTES.md), so only plain names are
 * accepted: a letter or digit, then letters, digits, `_`, `.` and `-` — no `/`, `..`, `?`, `#`,
 * `%` or `:`. `models/NAME` and `tunedModels/NAME` (the API's resource names) are accepted too
 * and kept as they are; a bare name means `models/NAME`.
 */
import { GatewayError } from '../../errors'
import type { EndpointKind } from '../../types'

const NAME = /^[A-Za-z0-9][\w.-]{0,127}$/

/** The model's resource name (`models/…` or `tunedModels/…`); a 400 for anything else. */
export const resourceName = (model: string): string => {
  const slash = model.indexOf('/')
  const collection = slash === -1 ? 'models' : model.slice(0, slash)
  const name = slash === -1 ? model : model.slice(slash + 1)
  if (
    (collection !== 'models' && collection !== 'tunedModels') ||
    !NAME.test(name) ||
    name.includes('..')
  ) {
    throw new GatewayError(
      'INVALID_REQUEST',
      `'${model.slice(0, 200)}' is not a Gemini model name: use letters, digits, '-', '_' ` +
        `and '.' (e.g. 'gemini-2.5-flash'), optionally as 'models/NAME' or 'tunedModels/NAME'.`,
      { param: 'model' },
    )
  }
  return `${collection}/${name}`
}

/** The method URL for a request: chat (unary or SSE) or batch embeddings. */
export const endpointUrl = (
  baseUrl: string,
  request: { readonly kind: EndpointKind; readonly stream: boolean },
  model: string,
): URL => {
  const resource = resourceName(model)
  const method =
    request.kind === 'embeddings'
      ? 'batchEmbedContents'
      : request.stream
        ? 'streamGenerateContent?alt=sse'
        : 'generateContent'
  return new URL(`${baseUrl}/v1beta/${resource}:${method}`)
}
