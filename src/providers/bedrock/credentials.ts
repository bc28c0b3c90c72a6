/**
 * @module Bedrock credentials: what signs a request in, the AWS Region it goes to, and the host
 * that Region names. It imports nothing: the admin CLI (`scripts/admin/commands/provider-key.ts`)
 * loads it in Node as it is, where an import without its `.ts` extension does not resolve.
 *
 * A Bedrock credential travels through the gateway as one string, like every other provider key:
 * the JSON an organisation stores in the vault, or the same JSON built from the operator's
 * environment (`config.ts`):
 *
 * ```json
 * { "region": "us-east-1", "accessKeyId": "AKIA…", "secretAccessKey": "…", "sessionToken": "…" }
 * { "region": "us-east-1", "apiKey": "ABSK…" }
 * ```
 *
 * The first signs with AWS Signature Version 4 (`sessionToken` only for temporary credentials);
 * the second is a Bedrock API key, sent as `Authorization: Bearer …` (AWS's
 * `AWS_BEARER_TOKEN_BEDROCK`). Errors name the field at fault, never a value: a value in the wrong
 * field may well be a secret.
 *
 * The Region becomes part of a host name, `bedrock-runtime.<region>.amazonaws.com`, so it is
 * checked against the shape of AWS's commercial and GovCloud Regions first (`us-east-1`,
 * `eu-central-2`, `us-gov-west-1`): nothing else can reach the host.
 */

/** AWS commercial and GovCloud Regions, as they enter the Bedrock Runtime host name. */
export const REGION = /^[a-z]{2}(?:-gov)?-[a-z]+-\d$/

export type BedrockCredentials =
  | {
      readonly region: string
      readonly accessKeyId: string
      readonly secretAccessKey: string
      readonly sessionToken?: string | undefined
    }
  | { readonly region: string; readonly apiKey: string }

/** The regional Bedrock Runtime endpoint (AWS General Reference, "Amazon Bedrock endpoints"). */
export const regionalBaseUrl = (region: string): string => {
  if (!REGION.test(region)) throw new Error('bedrock: not an AWS Region')
  return `https://bedrock-runtime.${region}.amazonaws.com`
}

const FIELDS = ['region', 'accessKeyId', 'secretAccessKey', 'sessionToken', 'apiKey'] as const

/** Printable ASCII without spaces: what every AWS credential part is, and safe in a header. */
const TOKEN = /^[\x21-\x7e]+$/

const problem = (text: string): Error => new Error(`Bedrock credentials: ${text}`)

/**
 * Reads a Bedrock credential (the JSON above). Throws an `Error` whose message names the field at
 * fault and never echoes the input.
 */
export const parseBedrockCredentials = (text: string): BedrockCredentials => {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    throw problem(
      'not JSON; expected {"region", "accessKeyId", "secretAccessKey"} or {"region", "apiKey"}',
    )
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw problem('expected a JSON object')
  }
  const record = json as Record<string, unknown>
  for (const key of Object.keys(record)) {
    // An unknown key is not echoed: it may be key material pasted in the wrong place.
    if (!(FIELDS as readonly string[]).includes(key)) {
      throw problem(`a field other than ${FIELDS.join(', ')}`)
    }
  }
  const field = (name: (typeof FIELDS)[number]): string | undefined => {
    const value = record[name]
    if (value === undefined || value === null) return undefined
    if (typeof value !== 'string' || !TOKEN.test(value)) {
      throw problem(`"${name}" must be a non-empty string without spaces`)
    }
    return value
  }
  const region = field('region')
  if (region === undefined || !REGION.test(region)) {
    throw problem('"region" must be an AWS Region such as us-east-1')
  }
  const apiKey = field('apiKey')
  const accessKeyId = field('accessKeyId')
  const secretAccessKey = field('secretAccessKey')
  const sessionToken = field('sessionToken')
  if (apiKey !== undefined) {
    if (accessKeyId !== undefined || secretAccessKey !== undefined || sessionToken !== undefined) {
      throw problem('give either "apiKey" or "accessKeyId" and "secretAccessKey", not both')
    }
    return { region, apiKey }
  }
  if (accessKeyId === undefined || secretAccessKey === undefined) {
    throw problem(
      `"${accessKeyId === undefined ? 'accessKeyId' : 'secretAccessKey'}" is missing ` +
        '(or give "apiKey", a Bedrock API key)',
    )
  }
  return sessionToken === undefined
    ? { region, accessKeyId, secretAccessKey }
    : { region, accessKeyId, secretAccessKey, sessionToken }
}

/** The credential as the one string a provider key is (fields in a fixed order). */
export const credentialsText = (credentials: BedrockCredentials): string =>
  JSON.stringify(
    'apiKey' in credentials
      ? { region: credentials.region, apiKey: credentials.apiKey }
      : {
          region: credentials.region,
          accessKeyId: credentials.accessKeyId,
          secretAccessKey: credentials.secretAccessKey,
          ...(credentials.sessionToken !== undefined && {
            sessionToken: credentials.sessionToken,
          }),
        },
  )

/** Everything in a credential that must never reach a client, the key id included. */
export const secretsOf = (credentials: BedrockCredentials): string[] =>
  'apiKey' in credentials
    ? [credentials.apiKey]
    : [
        credentials.secretAccessKey,
        credentials.accessKeyId,
        ...(credentials.sessionToken === undefined ? [] : [credentials.sessionToken]),
      ]

/** The operator's AWS variables, as the Worker's bindings hold them (already trimmed). */
export type AwsVariables = {
  readonly AWS_REGION?: string | undefined
  readonly AWS_ACCESS_KEY_ID?: string | undefined
  readonly AWS_SECRET_ACCESS_KEY?: string | undefined
  readonly AWS_SESSION_TOKEN?: string | undefined
  readonly AWS_BEARER_TOKEN_BEDROCK?: string | undefined
}

export type AwsVariableIssue = { readonly variable: keyof AwsVariables; readonly message: string }

/**
 * The operator's Bedrock credentials from the AWS variables: `undefined` when none are set, and
 * the combinations that cannot work as issues naming the variable (`CONFIG_INVALID`).
 */
export const operatorCredentials = (
  env: AwsVariables,
): { credentials: BedrockCredentials | undefined; issues: AwsVariableIssue[] } => {
  const issues: AwsVariableIssue[] = []
  const {
    AWS_REGION: region,
    AWS_ACCESS_KEY_ID: accessKeyId,
    AWS_SECRET_ACCESS_KEY: secretAccessKey,
    AWS_SESSION_TOKEN: sessionToken,
    AWS_BEARER_TOKEN_BEDROCK: apiKey,
  } = env
  if (region !== undefined && !REGION.test(region)) {
    issues.push({ variable: 'AWS_REGION', message: 'must be an AWS Region such as us-east-1' })
  }
  if ((accessKeyId === undefined) !== (secretAccessKey === undefined)) {
    issues.push(
      accessKeyId === undefined
        ? { variable: 'AWS_ACCESS_KEY_ID', message: 'is required with AWS_SECRET_ACCESS_KEY' }
        : { variable: 'AWS_SECRET_ACCESS_KEY', message: 'is required with AWS_ACCESS_KEY_ID' },
    )
  }
  if (sessionToken !== undefined && accessKeyId === undefined) {
    issues.push({
      variable: 'AWS_SESSION_TOKEN',
      message: 'is used only with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY',
    })
  }
  if (apiKey !== undefined && (accessKeyId !== undefined || secretAccessKey !== undefined)) {
    issues.push({
      variable: 'AWS_BEARER_TOKEN_BEDROCK',
      message:
        'cannot be combined with AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY: set one way to sign in',
    })
  }
  const given = apiKey ?? accessKeyId ?? secretAccessKey
  if (given !== undefined && region === undefined) {
    const by = apiKey !== undefined ? 'AWS_BEARER_TOKEN_BEDROCK' : 'AWS_ACCESS_KEY_ID'
    issues.push({
      variable: 'AWS_REGION',
      message: `is required with ${by} (the Bedrock Region, e.g. us-east-1)`,
    })
  }
  if (issues.length > 0 || region === undefined || given === undefined) {
    return { credentials: undefined, issues }
  }
  if (apiKey !== undefined) return { credentials: { region, apiKey }, issues }
  if (accessKeyId === undefined || secretAccessKey === undefined) {
    return { credentials: undefined, issues }
  }
  return {
    credentials: { region, accessKeyId, secretAccessKey, sessionToken },
    issues,
  }
}
