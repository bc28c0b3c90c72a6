/**
 * @module A resolved prompt applied to a chat request: the template's messages first, then the
 * request's own, the template's model and parameters as defaults the request's own fields
 * override, and `inputs` removed — it is the gateway's, never a provider's.
 */
import { renderTemplate, type ResolvedPrompt } from './template'

export type Applied =
  | { readonly ok: true; readonly body: Record<string, unknown> }
  | { readonly ok: false; readonly missing: readonly string[] }

export const applyPrompt = (
  resolved: ResolvedPrompt,
  body: Readonly<Record<string, unknown>>,
  inputs: Readonly<Record<string, unknown>>,
): Applied => {
  const rendered = renderTemplate(resolved.template, inputs)
  if (!rendered.ok) return rendered
  const { template } = resolved
  const own: unknown[] = Array.isArray(body.messages) ? body.messages : []
  const rest: Record<string, unknown> = { ...body }
  delete rest.inputs
  return {
    ok: true,
    body: {
      ...template.params,
      ...(template.model === undefined ? {} : { model: template.model }),
      ...rest,
      messages: [...rendered.messages, ...own],
    },
  }
}
