/**
 * @module Authorises a Bedrock request: AWS Signature Version 4 over the request exactly as it
 * leaves, or a Bedrock API key as a bearer token; and the host the credential's Region names.
 *
 * Signing uses `aws4fetch`'s `AwsV4Signer` (Web Crypto only, so it runs on Workers). Three details
 * matter for Bedrock (AWS IAM User Guide, "Create a signed AWS API request"):
 *
 * - The credential scope names the signing service `bedrock`, not the host's `bedrock-runtime`.
 * - The model id sits in the path percent-encoded (`:` → `%3A`, `/` of an ARN → `%2F`), and for
 *   every service but S3 the canonical URI encodes the path once more (`%3A` → `%253A`), which the
 *   signer does by default.
 * - Everything the request carries is signed — `host`, the sanitised client headers, the family's
 *   `accept`, `x-amz-date`, `x-amz-security-token` and the body's hash — except what the signer
 *   leaves out as rewritable on the way (`content-type`, `content-length`, `user-agent`, …).
 *   `x-amz-*` headers a client sent are removed first: SigV4's own inputs come from the signer.
 *
 * The host: unless the operator configured `BEDROCK_BASE_URL` (a VPC endpoint, a proxy), a request
 * goes to `bedrock-runtime.<region>.amazonaws.com` for the credential's own Region — an
 * organisation's stored credential may name another Region than the operator's `AWS_REGION` —
 * and the provider client checks that destination against the egress policy before sending.
 */
import { AwsV4Signer } from 'aws4fetch'
import { GatewayError } from '../../errors'
import type { Authorized, OutboundRequest } from '../adapter'
import type { ProviderConfig } from '../../types'
import {
  parseBedrockCredentials,
  regionalBaseUrl,
  secretsOf,
  type BedrockCredentials,
} from './credentials'

/** SigV4's name for Bedrock Runtime (the credential scope), not the host's `bedrock-runtime`. */
export const SIGNING_SERVICE = 'bedrock'

/** The headers the signer adds, copied onto the outbound request. */
const SIGNATURE_HEADERS = ['authorization', 'x-amz-date', 'x-amz-security-token'] as const

/** The provider config for the credential's Region: the host that Region names. */
export const regionalProvider = (provider: ProviderConfig, region: string): ProviderConfig => {
  const baseUrl = regionalBaseUrl(region)
  return baseUrl === provider.baseUrl
    ? provider
    : { ...provider, baseUrl, origin: new URL(baseUrl).origin }
}

type KeyPair = Exclude<BedrockCredentials, { readonly apiKey: string }>

/** Removes the `x-amz-*` headers a client sent: SigV4's own inputs come from the signer alone. */
const dropAmzHeaders = (headers: Headers): void => {
  for (const name of [...headers.keys()]) if (name.startsWith('x-amz-')) headers.delete(name)
}

/**
 * The SigV4 signer for a Bedrock request (its canonical request is inspectable, for tests).
 * `datetime` (`YYYYMMDDTHHMMSSZ`) fixes the signing time; by default it is now.
 */
export const signerFor = (
  request: OutboundRequest,
  credentials: KeyPair,
  datetime?: string,
): AwsV4Signer =>
  new AwsV4Signer({
    method: 'POST',
    url: request.url.href,
    headers: request.headers,
    body: request.body,
    accessKeyId: credentials.accessKeyId,
    secretAccessKey: credentials.secretAccessKey,
    ...(credentials.sessionToken !== undefined && { sessionToken: credentials.sessionToken }),
    service: SIGNING_SERVICE,
    region: credentials.region,
    ...(datetime !== undefined && { datetime }),
  })

/** Signs `request` in place with `credentials` (SigV4, or the API key as a bearer token). */
export const sign = async (
  request: OutboundRequest,
  credentials: BedrockCredentials,
  datetime?: string,
): Promise<void> => {
  const { headers } = request
  dropAmzHeaders(headers)
  if ('apiKey' in credentials) {
    headers.set('authorization', `Bearer ${credentials.apiKey}`)
    return
  }
  const signed = await signerFor(request, credentials, datetime).sign()
  for (const name of SIGNATURE_HEADERS) {
    const value = signed.headers.get(name)
    if (value !== null) headers.set(name, value)
  }
}

/** The credential string (vault or operator) read, or a 500 naming what is wrong with it. */
const readCredentials = (provider: ProviderConfig, credential: string): BedrockCredentials => {
  try {
    return parseBedrockCredentials(credential)
  } catch (err) {
    // The parser's messages name a field at most, never a value.
    const why = err instanceof Error ? err.message : 'invalid'
    throw new GatewayError(
      'CONFIG_INVALID',
      `The ${provider.spec.id} credentials could not be used: ${why}.`,
    )
  }
}

/** The adapter's `authorize`: the destination for the credential's Region, signed. */
export const authorize = async (
  request: OutboundRequest,
  provider: ProviderConfig,
  credential: string | undefined,
): Promise<Authorized> => {
  // No credential: an operator's endpoint that needs none (a proxy that signs for itself).
  if (credential === undefined) {
    dropAmzHeaders(request.headers)
    return { url: request.url, provider, secrets: [] }
  }
  const credentials = readCredentials(provider, credential)
  let destination = provider
  let url = request.url
  if (!provider.operatorConfigured) {
    destination = regionalProvider(provider, credentials.region)
    if (destination !== provider) {
      url = new URL(`${destination.baseUrl}${request.url.pathname}${request.url.search}`)
    }
  }
  await sign({ ...request, url }, credentials)
  return { url, provider: destination, secrets: secretsOf(credentials) }
}
