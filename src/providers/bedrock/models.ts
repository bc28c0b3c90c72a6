/**
 * @module The Bedrock models `GET /v1/models` lists: a fixed list, not the account's.
 *
 * Bedrock's own listing (`ListFoundationModels`) lives on the control-plane host
 * (`bedrock.<region>.amazonaws.com`), which the egress policy does not open and the signing would
 * need another scope for; and what an account may call depends on the model access it was granted,
 * per Region. So the list is the Converse-capable text models the price table knows (Amazon Bedrock
 * User Guide, "Supported foundation models"), by their base model ids: it says what the gateway
 * translates and prices, not what an account may call. Many models are served on demand only
 * through an inference profile in some Regions (Claude 3.7 and later everywhere): call those with
 * the profile's prefix, `bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0`. Any model id,
 * inference profile or ARN works as `bedrock/<id>`, listed or not.
 */
import type { ListedModel } from '../adapter'

/** Model ids as Bedrock names them (the on-demand base models; their Region prefix makes them
 * inference profiles). */
const MODELS: readonly string[] = [
  'anthropic.claude-3-haiku-20240307-v1:0',
  'anthropic.claude-3-5-haiku-20241022-v1:0',
  'anthropic.claude-3-5-sonnet-20240620-v1:0',
  'anthropic.claude-3-5-sonnet-20241022-v2:0',
  'anthropic.claude-3-7-sonnet-20250219-v1:0',
  'anthropic.claude-sonnet-4-20250514-v1:0',
  'anthropic.claude-sonnet-4-5-20250929-v1:0',
  'anthropic.claude-haiku-4-5-20251001-v1:0',
  'anthropic.claude-opus-4-1-20250805-v1:0',
  'amazon.nova-micro-v1:0',
  'amazon.nova-lite-v1:0',
  'amazon.nova-pro-v1:0',
  'meta.llama3-1-8b-instruct-v1:0',
  'meta.llama3-1-70b-instruct-v1:0',
  'meta.llama3-3-70b-instruct-v1:0',
  'mistral.mistral-7b-instruct-v0:2',
  'mistral.mixtral-8x7b-instruct-v0:1',
  'mistral.mistral-small-2402-v1:0',
  'mistral.mistral-large-2402-v1:0',
  'mistral.mistral-large-2407-v1:0',
]

const OWNERS: Readonly<Record<string, string>> = {
  anthropic: 'anthropic',
  amazon: 'amazon',
  meta: 'meta',
  mistral: 'mistral',
}

/** `created` is 0, as for Gemini: Bedrock's listing would not say either. */
export const BEDROCK_MODELS: readonly ListedModel[] = MODELS.map((id) => ({
  id,
  created: 0,
  ownedBy: OWNERS[id.slice(0, id.indexOf('.'))] ?? 'bedrock',
}))
