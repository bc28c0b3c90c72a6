import { AwsV4Signer } from 'aws4fetch'
import { describe, expect, it } from 'vitest'
import { GatewayError } from '../../errors'
import { builtinProvider } from '../../config'
import type { OutboundRequest } from '../adapter'
import { PROVIDERS } from '../registry'
import { authorize, regionalProvider, sign, signerFor, SIGNING_SERVICE } from './auth'
import { credentialsText, regionalBaseUrl } from './credentials'
import type { ProviderConfig } from '../../types'

/** AWS's SigV4 test suite credentials and time (the `aws-sig-v4-test-suite` examples). */
const AKID = 'AKIDEXAMPLE'
const SECRET = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY'
const DATETIME = '20150830T123600Z'

const spec = PROVIDERS.find((p) => p.id === 'bedrock')
if (spec === undefined) throw new Error('no bedrock provider in the registry')

/** The operator's Bedrock in `region`, as `config.ts` builds it. */
const operator = (region: string): ProviderConfig => {
  const provider = builtinProvider(spec, undefined, undefined)
  return regionalProvider(provider, region)
}

const encoder = new TextEncoder()
const hex = (bytes: ArrayBuffer): string =>
  [...new Uint8Array(bytes)].map((b) => b.toString(16).padStart(2, '0')).join('')
const sha256 = async (text: string): Promise<string> =>
  hex(await crypto.subtle.digest('SHA-256', encoder.encode(text)))
const hmac = async (key: ArrayBuffer | Uint8Array, text: string): Promise<ArrayBuffer> => {
  const imported = await crypto.subtle.importKey(
    'raw',
    key,
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    ['sign'],
  )
  return crypto.subtle.sign('HMAC', imported, encoder.encode(text))
}

/** SigV4's signature for a canonical request, computed here from the spec, not by the signer. */
const expectedSignature = async (
  canonical: string,
  region: string,
  service: string,
): Promise<string> => {
  const date = DATETIME.slice(0, 8)
  const scope = `${date}/${region}/${service}/aws4_request`
  const stringToSign = ['AWS4-HMAC-SHA256', DATETIME, scope, await sha256(canonical)].join('\n')
  let key = await hmac(encoder.encode(`AWS4${SECRET}`), date)
  for (const part of [region, service, 'aws4_request']) key = await hmac(key, part)
  return hex(await hmac(key, stringToSign))
}

const request = (
  url: string,
  headers: Record<string, string> = {},
  body = '{}',
): OutboundRequest => ({
  url: new URL(url),
  headers: new Headers(headers),
  body,
})

const HAIKU_URL =
  'https://bedrock-runtime.us-east-1.amazonaws.com/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse'

describe('the signer against AWS SigV4 test vectors', () => {
  it('should reproduce get-vanilla: canonical request, its hash and the signature', async () => {
    const signer = new AwsV4Signer({
      method: 'GET',
      url: 'https://example.amazonaws.com/',
      accessKeyId: AKID,
      secretAccessKey: SECRET,
      service: 'service',
      region: 'us-east-1',
      datetime: DATETIME,
    })
    const canonical = await signer.canonicalString()
    expect(canonical).toBe(
      [
        'GET',
        '/',
        '',
        'host:example.amazonaws.com',
        `x-amz-date:${DATETIME}`,
        '',
        'host;x-amz-date',
        'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
      ].join('\n'),
    )
    expect(await sha256(canonical)).toBe(
      'bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63',
    )
    expect(await signer.authHeader()).toBe(
      'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, ' +
        'SignedHeaders=host;x-amz-date, ' +
        'Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31',
    )
  })

  it('should reproduce post-vanilla', async () => {
    const signer = new AwsV4Signer({
      method: 'POST',
      url: 'https://example.amazonaws.com/',
      accessKeyId: AKID,
      secretAccessKey: SECRET,
      service: 'service',
      region: 'us-east-1',
      datetime: DATETIME,
    })
    expect(await signer.signature()).toBe(
      '5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b',
    )
  })
})

describe('sign (SigV4 for Bedrock)', () => {
  const credentials = { region: 'us-east-1', accessKeyId: AKID, secretAccessKey: SECRET }

  it('should double-encode the model id of the path in the canonical request, scope "bedrock"', async () => {
    const body = '{"messages":[{"role":"user","content":[{"text":"Hi"}]}]}'
    const outbound = request(
      HAIKU_URL,
      { accept: 'application/json', 'content-type': 'application/json' },
      body,
    )
    const canonical = await signerFor(outbound, credentials, DATETIME).canonicalString()
    expect(canonical).toBe(
      [
        'POST',
        '/model/anthropic.claude-3-haiku-20240307-v1%253A0/converse',
        '',
        'accept:application/json',
        'host:bedrock-runtime.us-east-1.amazonaws.com',
        `x-amz-date:${DATETIME}`,
        '',
        'accept;host;x-amz-date',
        await sha256(body),
      ].join('\n'),
    )
    await sign(outbound, credentials, DATETIME)
    expect(SIGNING_SERVICE).toBe('bedrock')
    expect(outbound.headers.get('authorization')).toBe(
      'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/bedrock/aws4_request, ' +
        'SignedHeaders=accept;host;x-amz-date, ' +
        `Signature=${await expectedSignature(canonical, 'us-east-1', 'bedrock')}`,
    )
    expect(outbound.headers.get('x-amz-date')).toBe(DATETIME)
    // The URL itself keeps a single encoding: that is what goes on the wire.
    expect(outbound.url.pathname).toBe('/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse')
  })

  it("should encode an ARN's slash once on the wire and twice in the canonical URI", async () => {
    const arn = 'arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.amazon.nova-lite-v1:0'
    const outbound = request(
      `https://bedrock-runtime.us-east-1.amazonaws.com/model/${encodeURIComponent(arn)}/converse-stream`,
    )
    const canonical = await signerFor(outbound, credentials, DATETIME).canonicalString()
    expect(canonical.split('\n')[1]).toBe(
      '/model/arn%253Aaws%253Abedrock%253Aus-east-1%253A123456789012%253Ainference-profile%252Fus.amazon.nova-lite-v1%253A0/converse-stream',
    )
  })

  it('should sign every header the request carries but those a hop may rewrite', async () => {
    const outbound = request(HAIKU_URL, {
      accept: 'application/vnd.amazon.eventstream',
      'content-type': 'application/json',
      'user-agent': 'OpenAI/Python 1.0',
      'x-stainless-lang': 'python',
    })
    await sign(outbound, credentials, DATETIME)
    expect(outbound.headers.get('authorization')).toContain(
      'SignedHeaders=accept;host;x-amz-date;x-stainless-lang,',
    )
  })

  it('should sign and send a session token', async () => {
    const outbound = request(HAIKU_URL)
    await sign(outbound, { ...credentials, sessionToken: 'session/token+=' }, DATETIME)
    expect(outbound.headers.get('x-amz-security-token')).toBe('session/token+=')
    expect(outbound.headers.get('authorization')).toContain(
      'SignedHeaders=host;x-amz-date;x-amz-security-token,',
    )
  })

  it('should drop x-amz-* headers a client sent: SigV4 inputs come from the signer only', async () => {
    const outbound = request(HAIKU_URL, {
      'x-amz-security-token': 'forged',
      'x-amz-date': '19990101T000000Z',
      'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
    })
    await sign(outbound, credentials, DATETIME)
    expect(outbound.headers.get('x-amz-security-token')).toBeNull()
    expect(outbound.headers.get('x-amz-content-sha256')).toBeNull()
    expect(outbound.headers.get('x-amz-date')).toBe(DATETIME)
    expect(outbound.headers.get('authorization')).toContain('SignedHeaders=host;x-amz-date,')
  })

  it('should send a Bedrock API key as a bearer token, unsigned', async () => {
    const outbound = request(HAIKU_URL, { 'x-amz-security-token': 'forged' })
    await sign(outbound, { region: 'us-east-1', apiKey: 'ABSKexamplekey' })
    expect(outbound.headers.get('authorization')).toBe('Bearer ABSKexamplekey')
    expect(outbound.headers.get('x-amz-date')).toBeNull()
    expect(outbound.headers.get('x-amz-security-token')).toBeNull()
  })
})

describe('authorize', () => {
  const pair = (region: string): string =>
    credentialsText({ region, accessKeyId: AKID, secretAccessKey: SECRET })

  it("should keep the operator Region's host for a credential of that Region", async () => {
    const provider = operator('us-east-1')
    const outbound = request(HAIKU_URL)
    const authorized = await authorize(outbound, provider, pair('us-east-1'))
    expect(authorized.url.href).toBe(HAIKU_URL)
    expect(authorized.provider).toBe(provider)
    expect(authorized.secrets).toEqual([SECRET, AKID])
    expect(outbound.headers.get('authorization')).toContain('/us-east-1/bedrock/aws4_request')
  })

  it("should send an organisation's credential to its own Region's host", async () => {
    const provider = operator('us-east-1')
    const outbound = request(HAIKU_URL)
    const authorized = await authorize(outbound, provider, pair('eu-west-1'))
    expect(authorized.url.href).toBe(
      'https://bedrock-runtime.eu-west-1.amazonaws.com/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse',
    )
    expect(authorized.provider.origin).toBe(new URL(regionalBaseUrl('eu-west-1')).origin)
    expect(authorized.provider.operatorConfigured).toBe(false)
    expect(outbound.headers.get('authorization')).toContain('/eu-west-1/bedrock/aws4_request')
  })

  it("should keep an operator-configured endpoint and sign for the credential's Region", async () => {
    const provider = builtinProvider(spec, undefined, 'http://127.0.0.1:9999/bedrock')
    const url = 'http://127.0.0.1:9999/bedrock/model/amazon.nova-lite-v1%3A0/converse'
    const outbound = request(url)
    const authorized = await authorize(outbound, provider, pair('ap-south-1'))
    expect(authorized.url.href).toBe(url)
    expect(authorized.provider).toBe(provider)
    expect(outbound.headers.get('authorization')).toContain('/ap-south-1/bedrock/aws4_request')
  })

  it('should send nothing for an endpoint that needs no credential', async () => {
    const provider = builtinProvider(spec, undefined, 'http://127.0.0.1:9999/bedrock')
    const outbound = request('http://127.0.0.1:9999/bedrock/model/m/converse', {
      'x-amz-security-token': 'forged',
    })
    const authorized = await authorize(outbound, provider, undefined)
    expect(authorized.secrets).toEqual([])
    expect(outbound.headers.get('authorization')).toBeNull()
    expect(outbound.headers.get('x-amz-security-token')).toBeNull()
  })

  it('should answer CONFIG_INVALID for an unusable credential, without its content', async () => {
    let thrown: unknown
    try {
      await authorize(
        request(HAIKU_URL),
        operator('us-east-1'),
        '{"region":"nowhere","apiKey":"ABSKsecretvalue"}',
      )
    } catch (err) {
      thrown = err
    }
    expect(thrown).toBeInstanceOf(GatewayError)
    const error = thrown as GatewayError
    expect([error.code, error.status]).toEqual(['CONFIG_INVALID', 500])
    expect(error.message).toContain('"region"')
    expect(error.message).not.toContain('ABSKsecretvalue')
    expect(error.message).not.toContain('nowhere')
  })
})
