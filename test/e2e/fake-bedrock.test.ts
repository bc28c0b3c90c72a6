/**
 * @module Self-tests of the fake Amazon Bedrock Runtime (`test/support/fakes/bedrock.ts`): its SigV4
 * verifier against AWS's published test suite and against requests signed by aws4fetch, by a
 * second signer written here on Web Crypto;
 * refusal of bad signatures; request validation against the service model; answers reshaped from
 * the recorded streams; event-stream frames decoded both with `@smithy/eventstream-codec` and with a
 * small decoder written here (checked against smithy's event-stream test vectors); fault headers.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { request as httpRequest } from 'node:http'
import { EventStreamCodec } from '@smithy/eventstream-codec'
import { AwsClient } from 'aws4fetch'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startFakeProviders } from '../support/fake-providers.ts'
import type { FakeProviders, RecordedRequest } from '../support/fake-providers.ts'
import {
  BEDROCK_API_KEY,
  BEDROCK_CREDENTIALS,
  BEDROCK_REGION,
  BEDROCK_SESSION_CREDENTIALS,
  bedrockShapeViolations,
  bedrockStreamExceptionTypes,
  encodeEventStreamMessage,
  verifySigV4,
} from '../support/fakes/bedrock.ts'

type Json = null | boolean | number | string | Json[] | { [key: string]: Json }
type JsonObject = { [key: string]: Json }

const FIXTURES = new URL('../fixtures/', import.meta.url)
const SUITE = new URL('bedrock/aws4_testsuite/', FIXTURES)
const VECTORS = new URL('bedrock/eventstream-test-vectors/', FIXTURES)

const isObject = (value: unknown): value is JsonObject =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

/** Property access for test assertions on parsed JSON. */
const at = (value: unknown, ...path: Array<string | number>): unknown => {
  let current = value
  for (const key of path) {
    if (Array.isArray(current) && typeof key === 'number') current = current[key]
    else if (isObject(current) && typeof key === 'string') current = current[key]
    else return undefined
  }
  return current
}

let fake: FakeProviders

beforeAll(async () => {
  fake = await startFakeProviders()
})

afterAll(async () => {
  await fake.close()
})

const recordedWithTag = (tag: string): RecordedRequest[] =>
  fake.requests.filter((entry) => entry.tag === tag)

// ================================================================================================
// An event-stream decoder of our own (independent of the fake's encoder and of smithy's codec)
// ================================================================================================

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
  return c >>> 0
})

const crc32 = (bytes: Uint8Array): number => {
  let crc = 0xffffffff
  for (const byte of bytes) crc = (CRC_TABLE[(crc ^ byte) & 0xff] ?? 0) ^ (crc >>> 8)
  return (crc ^ 0xffffffff) >>> 0
}

type HeaderValue = boolean | number | bigint | Buffer
type DecodedMessage = {
  totalLength: number
  headersLength: number
  preludeCrc: number
  messageCrc: number
  headers: Array<{ name: string; type: number; value: HeaderValue }>
  payload: Buffer
}

/** One event-stream message, every length and both CRCs checked (throws on any mismatch). */
const decodeMessage = (bytes: Buffer): DecodedMessage => {
  if (bytes.length < 16) throw new Error('message shorter than prelude and CRCs')
  const totalLength = bytes.readUInt32BE(0)
  const headersLength = bytes.readUInt32BE(4)
  const preludeCrc = bytes.readUInt32BE(8)
  if (crc32(bytes.subarray(0, 8)) !== preludeCrc) throw new Error('Prelude checksum mismatch')
  if (totalLength !== bytes.length) throw new Error('Message length mismatch')
  const messageCrc = bytes.readUInt32BE(totalLength - 4)
  if (crc32(bytes.subarray(0, totalLength - 4)) !== messageCrc) {
    throw new Error('Message checksum mismatch')
  }
  const headers: DecodedMessage['headers'] = []
  let offset = 12
  const end = 12 + headersLength
  while (offset < end) {
    const nameLength = bytes.readUInt8(offset)
    const name = bytes.subarray(offset + 1, offset + 1 + nameLength).toString('utf8')
    offset += 1 + nameLength
    const type = bytes.readUInt8(offset)
    offset += 1
    let value: HeaderValue
    switch (type) {
      case 0:
      case 1:
        value = type === 0
        break
      case 2:
        value = bytes.readInt8(offset)
        offset += 1
        break
      case 3:
        value = bytes.readInt16BE(offset)
        offset += 2
        break
      case 4:
        value = bytes.readInt32BE(offset)
        offset += 4
        break
      case 5:
      case 8:
        value = bytes.readBigInt64BE(offset)
        offset += 8
        break
      case 6:
      case 7: {
        const length = bytes.readUInt16BE(offset)
        value = bytes.subarray(offset + 2, offset + 2 + length)
        offset += 2 + length
        break
      }
      case 9:
        value = bytes.subarray(offset, offset + 16)
        offset += 16
        break
      default:
        throw new Error(`unknown header value type ${type}`)
    }
    headers.push({ name, type, value })
  }
  if (offset !== end) throw new Error('headers overrun their length')
  return {
    totalLength,
    headersLength,
    preludeCrc,
    messageCrc,
    headers,
    payload: bytes.subarray(end, totalLength - 4),
  }
}

/** A body cut into messages by their prelude lengths; an incomplete last message is `rest`. */
const splitMessages = (body: Buffer): { messages: Buffer[]; rest: Buffer } => {
  const messages: Buffer[] = []
  let offset = 0
  while (offset + 4 <= body.length) {
    const length = body.readUInt32BE(offset)
    if (offset + length > body.length) break
    messages.push(body.subarray(offset, offset + length))
    offset += length
  }
  return { messages, rest: body.subarray(offset) }
}

type StreamEvent = { messageType: string; type: string; contentType: string; payload: JsonObject }

const stringHeader = (message: DecodedMessage, name: string): string => {
  const value = message.headers.find((header) => header.name === name)?.value
  return Buffer.isBuffer(value) ? value.toString('utf8') : ''
}

/** The events of a complete stream body, decoded here (CRCs checked). */
const ownEvents = (body: Buffer): StreamEvent[] => {
  const { messages, rest } = splitMessages(body)
  expect(rest.length).toBe(0)
  return messages.map((bytes) => {
    const message = decodeMessage(bytes)
    expect(message.headers.every((header) => header.type === 7)).toBe(true)
    const messageType = stringHeader(message, ':message-type')
    const payload: unknown = JSON.parse(message.payload.toString('utf8'))
    return {
      messageType,
      type: stringHeader(message, messageType === 'exception' ? ':exception-type' : ':event-type'),
      contentType: stringHeader(message, ':content-type'),
      payload: isObject(payload) ? payload : {},
    }
  })
}

const smithyCodec = new EventStreamCodec(
  (bytes) => Buffer.from(bytes).toString('utf8'),
  (text) => Buffer.from(text, 'utf8'),
)

/** The same events through AWS's own codec (which checks both CRCs too). */
const smithyEvents = (body: Buffer): StreamEvent[] =>
  splitMessages(body).messages.map((bytes) => {
    const { headers, body: payload } = smithyCodec.decode(bytes)
    const text = (name: string): string => {
      const header = headers[name]
      return header?.type === 'string' ? header.value : ''
    }
    const messageType = text(':message-type')
    const parsed: unknown = JSON.parse(Buffer.from(payload).toString('utf8'))
    return {
      messageType,
      type: text(messageType === 'exception' ? ':exception-type' : ':event-type'),
      contentType: text(':content-type'),
      payload: isObject(parsed) ? parsed : {},
    }
  })

// ================================================================================================
// Requests
// ================================================================================================

const MODEL = 'anthropic.claude-3-haiku-20240307-v1:0'
/** The model id as the AWS SDK writes it in the path: `:` percent-encoded. */
const MODEL_PATH = `/bedrock/model/${encodeURIComponent(MODEL)}`
const CONVERSE = `${MODEL_PATH}/converse`
const STREAM = `${MODEL_PATH}/converse-stream`
const USER: JsonObject = { role: 'user', content: [{ text: 'What is the weather in Paris?' }] }
const BASE: JsonObject = { messages: [USER], inferenceConfig: { maxTokens: 256 } }
const WEATHER_TOOL: JsonObject = {
  toolSpec: {
    name: 'lookup_weather',
    description: 'Weather by city',
    inputSchema: {
      json: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
    },
  },
}
const STOCK_TOOL: JsonObject = {
  toolSpec: { name: 'lookup_stock', inputSchema: { json: { type: 'object' } } },
}
const TOOLS: JsonObject = { ...BASE, toolConfig: { tools: [WEATHER_TOOL] } }

const aws = (overrides: Partial<ConstructorParameters<typeof AwsClient>[0]> = {}): AwsClient =>
  new AwsClient({
    ...BEDROCK_CREDENTIALS,
    region: BEDROCK_REGION,
    service: 'bedrock',
    retries: 0,
    ...overrides,
  })

type Answer = { status: number; headers: Headers; bytes: Buffer; text: string; json: unknown }

const readAnswer = async (res: Response): Promise<Answer> => {
  const bytes = Buffer.from(await res.arrayBuffer())
  const text = bytes.toString('utf8')
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    json = undefined
  }
  return { status: res.status, headers: res.headers, bytes, text, json }
}

/** A POST signed by aws4fetch (every header given is signed along). */
const signedPost = async (
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
  client = aws(),
): Promise<Answer> =>
  readAnswer(
    await client.fetch(`${fake.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    }),
  )

/** A POST authenticated with the fake's Bedrock API key. */
const keyPost = async (
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<Answer> =>
  readAnswer(
    await fetch(`${fake.url}${path}`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${BEDROCK_API_KEY}`,
        'content-type': 'application/json',
        ...headers,
      },
      body: JSON.stringify(body),
    }),
  )

/** What a raw HTTP client sees: how the response ended and every byte before that. */
const rawPost = (path: string, body: unknown, headers: Record<string, string>) =>
  new Promise<{ outcome: 'end' | 'error'; status: number; bytes: Buffer }>((resolve, reject) => {
    const req = httpRequest(
      `${fake.url}${path}`,
      {
        method: 'POST',
        headers: {
          authorization: `Bearer ${BEDROCK_API_KEY}`,
          'content-type': 'application/json',
          ...headers,
        },
      },
      (res) => {
        const parts: Buffer[] = []
        let done = false
        const finish = (outcome: 'end' | 'error'): void => {
          if (done) return
          done = true
          resolve({ outcome, status: res.statusCode ?? 0, bytes: Buffer.concat(parts) })
        }
        res.on('data', (part: Buffer) => parts.push(part))
        res.on('end', () => {
          finish('end')
        })
        res.on('error', () => {
          finish('error')
        })
        res.on('close', () => {
          finish('error')
        })
      },
    )
    req.on('error', reject)
    req.end(JSON.stringify(body))
  })

// ------------------------------------------------------------------------------------------------
// A second SigV4 signer, written here on Web Crypto, signing more headers than aws4fetch does
// (content-type, x-amz-content-sha256) and escaping the already-escaped path the way the AWS SDKs do.
// ------------------------------------------------------------------------------------------------

const utf8 = new TextEncoder()
const hex = (buffer: ArrayBuffer): string => Buffer.from(buffer).toString('hex')

const webHmac = async (
  key: ArrayBuffer | Uint8Array<ArrayBuffer>,
  data: string,
): Promise<ArrayBuffer> => {
  const cryptoKey = await crypto.subtle.importKey(
    'raw',
    key,
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    ['sign'],
  )
  return crypto.subtle.sign('HMAC', cryptoKey, utf8.encode(data))
}

const escapeSegment = (segment: string): string =>
  encodeURIComponent(segment).replace(
    /[!'()*]/g,
    (char) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`,
  )

const webCryptoSign = async (
  url: string,
  body: string,
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string },
  now = new Date(),
): Promise<Record<string, string>> => {
  const target = new URL(url)
  const amzDate = now.toISOString().replace(/[-:]|\.\d{3}/g, '')
  const date = amzDate.slice(0, 8)
  const payloadHash = hex(await crypto.subtle.digest('SHA-256', utf8.encode(body)))
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    host: target.host,
    'x-amz-content-sha256': payloadHash,
    'x-amz-date': amzDate,
    ...(credentials.sessionToken === undefined
      ? {}
      : { 'x-amz-security-token': credentials.sessionToken }),
  }
  const names = Object.keys(headers).sort()
  const canonical = [
    'POST',
    target.pathname.split('/').map(escapeSegment).join('/'),
    '',
    ...names.map((name) => `${name}:${headers[name] ?? ''}`),
    '',
    names.join(';'),
    payloadHash,
  ].join('\n')
  const scope = `${date}/${BEDROCK_REGION}/bedrock/aws4_request`
  const toSign = [
    'AWS4-HMAC-SHA256',
    amzDate,
    scope,
    hex(await crypto.subtle.digest('SHA-256', utf8.encode(canonical))),
  ].join('\n')
  let key = await webHmac(utf8.encode(`AWS4${credentials.secretAccessKey}`), date)
  for (const part of [BEDROCK_REGION, 'bedrock', 'aws4_request']) key = await webHmac(key, part)
  const signature = hex(await webHmac(key, toSign))
  delete headers['host']
  return {
    ...headers,
    authorization: `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${scope}, SignedHeaders=${names.join(';')}, Signature=${signature}`,
  }
}

// ------------------------------------------------------------------------------------------------
// The recorded OpenAI streams the answers come from
// ------------------------------------------------------------------------------------------------

const recorded = (
  prefix: string,
): { text: string; args: string[]; usage: { prompt: number; completion: number } } => {
  const dir = new URL('openai/fixtures/', FIXTURES)
  const name = readdirSync(dir).find((file) => file.startsWith(prefix))
  if (name === undefined) throw new Error(`no recording ${prefix}`)
  let text = ''
  const args: string[] = []
  const usage = { prompt: 0, completion: 0 }
  for (const line of readFileSync(new URL(name, dir), 'utf8').split('\n')) {
    if (!line.startsWith('data: ') || line === 'data: [DONE]') continue
    const chunk: unknown = JSON.parse(line.slice('data: '.length))
    const delta = at(chunk, 'choices', 0, 'delta')
    const content = at(delta, 'content')
    if (typeof content === 'string') text += content
    const calls = at(delta, 'tool_calls')
    for (const call of Array.isArray(calls) ? calls : []) {
      const index = at(call, 'index')
      const fragment = at(call, 'function', 'arguments')
      if (typeof index === 'number' && typeof fragment === 'string') {
        args[index] = (args[index] ?? '') + fragment
      }
    }
    const prompt = at(chunk, 'usage', 'prompt_tokens')
    const completion = at(chunk, 'usage', 'completion_tokens')
    if (typeof prompt === 'number' && typeof completion === 'number') {
      usage.prompt = prompt
      usage.completion = completion
    }
  }
  return { text, args, usage }
}

// ================================================================================================
// SigV4: AWS's test suite
// ================================================================================================

type SuiteCase = { name: string; dir: URL; base: string }

const suiteCases = (dir: URL, prefix = ''): SuiteCase[] =>
  readdirSync(dir).flatMap((entry): SuiteCase[] => {
    if (!statSync(new URL(entry, dir)).isDirectory()) return []
    const child = new URL(`${entry}/`, dir)
    const files = readdirSync(child)
    if (files.some((file) => file.endsWith('.sreq'))) {
      return [{ name: `${prefix}${entry}`, dir: child, base: entry }]
    }
    return suiteCases(child, `${prefix}${entry}/`)
  })

/** A raw `.sreq`/`.req` file: request line, header lines (folded lines kept), blank line, body. */
const parseRawRequest = (
  text: string,
): { method: string; target: string; headers: Array<[string, string]>; body: string } => {
  const blank = text.indexOf('\n\n')
  const head = blank < 0 ? text : text.slice(0, blank)
  const body = blank < 0 ? '' : text.slice(blank + 2)
  const [requestLine = '', ...lines] = head.split('\n')
  const method = requestLine.slice(0, requestLine.indexOf(' '))
  const target = requestLine.slice(method.length + 1, requestLine.lastIndexOf(' HTTP/'))
  const headers: Array<[string, string]> = []
  for (const line of lines) {
    const last = headers.at(-1)
    if (/^\s/.test(line) && last) last[1] += `\n${line}`
    else headers.push([line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 1)])
  }
  return { method, target, headers, body }
}

const SUITE_SECRET = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY'
const SUITE_NOW = new Date('2015-08-30T12:36:00Z')

const suiteOutcome = (suiteCase: SuiteCase, secret = SUITE_SECRET) => {
  const read = (ext: string): string =>
    readFileSync(new URL(`${suiteCase.base}.${ext}`, suiteCase.dir), 'utf8')
  // The signed request, with the suite's signature (`.authz`): see the erratum test below.
  const request = parseRawRequest(read('sreq'))
  const authorization = request.headers.find(([name]) => name.toLowerCase() === 'authorization')
  if (authorization) authorization[1] = read('authz')
  const token = request.headers.find(([name]) => name.toLowerCase() === 'x-amz-security-token')
  const outcome = verifySigV4(request, {
    credentials: [
      {
        accessKeyId: 'AKIDEXAMPLE',
        secretAccessKey: secret,
        ...(token ? { sessionToken: token[1] } : {}),
      },
    ],
    region: 'us-east-1',
    service: 'service',
    now: SUITE_NOW,
  })
  return { outcome, creq: read('creq'), sts: read('sts') }
}

const SUITE_CASES = suiteCases(SUITE)

describe('bedrock fake: SigV4 verifier against the AWS SigV4 test suite', () => {
  it('should find the suite (botocore copy, every case)', () => {
    expect(SUITE_CASES.map((suiteCase) => suiteCase.name)).toEqual(
      expect.arrayContaining([
        'get-vanilla',
        'post-x-www-form-urlencoded',
        'normalize-path/get-space',
      ]),
    )
    expect(SUITE_CASES.length).toBeGreaterThanOrEqual(30)
  })

  it.each(SUITE_CASES)(
    '$name: should rebuild the canonical request and string to sign, and verify',
    (suiteCase) => {
      const { outcome, creq, sts } = suiteOutcome(suiteCase)
      expect(outcome.canonicalRequest ?? creq).toBe(creq)
      expect(outcome.stringToSign ?? sts).toBe(sts)
      expect(outcome).toMatchObject({ ok: true, canonicalRequest: creq, stringToSign: sts })
    },
  )

  it('should find the suite’s erratum: one .sreq carries get-vanilla’s signature, not its .authz', () => {
    const erratum = SUITE_CASES.filter((suiteCase) => {
      const read = (ext: string): string =>
        readFileSync(new URL(`${suiteCase.base}.${ext}`, suiteCase.dir), 'utf8')
      return !read('sreq').includes(read('authz'))
    })
    expect(erratum.map((suiteCase) => suiteCase.name)).toEqual(['get-vanilla-with-session-token'])
    const [suiteCase] = erratum
    if (!suiteCase) return
    const request = parseRawRequest(
      readFileSync(new URL(`${suiteCase.base}.sreq`, suiteCase.dir), 'utf8'),
    )
    const token = request.headers.find(([name]) => name.toLowerCase() === 'x-amz-security-token')
    const outcome = verifySigV4(request, {
      credentials: [
        {
          accessKeyId: 'AKIDEXAMPLE',
          secretAccessKey: SUITE_SECRET,
          sessionToken: token?.[1] ?? '',
        },
      ],
      region: 'us-east-1',
      service: 'service',
      now: SUITE_NOW,
    })
    expect(outcome).toMatchObject({ ok: false, errorType: 'InvalidSignatureException' })
  })

  it('should refuse every suite request under another secret', () => {
    for (const suiteCase of SUITE_CASES) {
      const { outcome, creq } = suiteOutcome(suiteCase, 'not-the-secret')
      expect(outcome).toMatchObject({ ok: false, errorType: 'InvalidSignatureException' })
      // The refusal shows the canonical request it expected, as AWS does.
      expect(outcome.ok ? '' : outcome.message).toContain(`should have been\n'${creq}'`)
    }
  })
})

// ================================================================================================
// SigV4 over HTTP
// ================================================================================================

describe('bedrock fake: authentication', () => {
  it('should answer a Converse request signed by aws4fetch (service bedrock, %3A → %253A)', async () => {
    const tag = 'bedrock-aws4fetch'
    const res = await signedPost(CONVERSE, BASE, { 'x-fake-tag': tag })
    expect(res.status).toBe(200)
    expect(res.headers.get('x-amzn-requestid')).toMatch(/^[0-9a-f-]{36}$/)
    expect(bedrockShapeViolations('ConverseResponse', res.json)).toEqual([])
    const [entry] = recordedWithTag(tag)
    expect(entry?.path).toBe(CONVERSE)
    expect(entry?.path).toContain('v1%3A0')
    expect(entry?.violations).toEqual([])
  })

  it('should answer a ConverseStream request signed by aws4fetch', async () => {
    const res = await signedPost(STREAM, BASE)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('application/vnd.amazon.eventstream')
    expect(ownEvents(res.bytes).at(-1)?.type).toBe('metadata')
  })

  it('should answer a request signed by a second signer (Web Crypto, more headers signed)', async () => {
    const tag = 'bedrock-webcrypto'
    const body = JSON.stringify(BASE)
    const headers = await webCryptoSign(`${fake.url}${CONVERSE}`, body, BEDROCK_CREDENTIALS)
    const res = await readAnswer(
      await fetch(`${fake.url}${CONVERSE}`, {
        method: 'POST',
        headers: { ...headers, 'x-fake-tag': tag },
        body,
      }),
    )
    expect(res.status).toBe(200)
    expect(recordedWithTag(tag)[0]?.violations).toEqual([])
  })

  it('should accept temporary credentials only with their session token', async () => {
    const ok = await signedPost(CONVERSE, BASE, {}, aws(BEDROCK_SESSION_CREDENTIALS))
    expect(ok.status).toBe(200)
    const webSigned = await webCryptoSign(
      `${fake.url}${CONVERSE}`,
      JSON.stringify(BASE),
      BEDROCK_SESSION_CREDENTIALS,
    )
    const web = await fetch(`${fake.url}${CONVERSE}`, {
      method: 'POST',
      headers: webSigned,
      body: JSON.stringify(BASE),
    })
    expect(web.status).toBe(200)
    const withoutToken = {
      accessKeyId: BEDROCK_SESSION_CREDENTIALS.accessKeyId,
      secretAccessKey: BEDROCK_SESSION_CREDENTIALS.secretAccessKey,
    }
    const refused = await signedPost(CONVERSE, BASE, {}, aws(withoutToken))
    expect(refused.status).toBe(403)
    expect(refused.headers.get('x-amzn-errortype')).toMatch(/^UnrecognizedClientException:/)
    expect(refused.json).toEqual({
      message: 'The security token included in the request is invalid.',
    })
  })

  it('should accept the Bedrock API key as a bearer token, and refuse another', async () => {
    expect((await keyPost(CONVERSE, BASE)).status).toBe(200)
    const tag = 'bedrock-bad-key'
    const res = await readAnswer(
      await fetch(`${fake.url}${CONVERSE}`, {
        method: 'POST',
        headers: { authorization: 'Bearer ABSKnotthekey', 'x-fake-tag': tag },
        body: JSON.stringify(BASE),
      }),
    )
    expect(res.status).toBe(403)
    expect(at(res.json, 'Message')).toBe(
      'Authentication failed: Please make sure your API Key is valid.',
    )
    expect(recordedWithTag(tag)[0]?.violations).toHaveLength(1)
  })

  it('should refuse a wrong secret with InvalidSignatureException, showing the %253A path', async () => {
    const tag = 'bedrock-wrong-secret'
    const client = aws({ secretAccessKey: 'not-the-fake-secret' })
    const res = await signedPost(CONVERSE, BASE, { 'x-fake-tag': tag }, client)
    expect(res.status).toBe(403)
    expect(res.headers.get('x-amzn-errortype')).toMatch(/^InvalidSignatureException:/)
    const message = String(at(res.json, 'message'))
    expect(message).toMatch(/^The request signature we calculated does not match/)
    expect(message).toContain(
      "The Canonical String for this request should have been\n'POST\n/bedrock/model/anthropic.claude-3-haiku-20240307-v1%253A0/converse\n",
    )
    expect(message).toContain(`/${BEDROCK_REGION}/bedrock/aws4_request`)
    expect(recordedWithTag(tag)[0]?.violations[0]).toMatch(/^sigv4 InvalidSignatureException/)
  })

  it('should refuse a body changed after signing', async () => {
    const client = aws()
    const signed = await client.sign(`${fake.url}${CONVERSE}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(BASE),
    })
    const tampered = { ...BASE, inferenceConfig: { maxTokens: 4096 } }
    const res = await fetch(signed.url, {
      method: 'POST',
      headers: signed.headers,
      body: JSON.stringify(tampered),
    })
    expect(res.status).toBe(403)
    expect(res.headers.get('x-amzn-errortype')).toMatch(/^InvalidSignatureException:/)
    // With x-amz-content-sha256 signed, the mismatch is named as such.
    const headers = await webCryptoSign(
      `${fake.url}${CONVERSE}`,
      JSON.stringify(BASE),
      BEDROCK_CREDENTIALS,
    )
    const named = await readAnswer(
      await fetch(`${fake.url}${CONVERSE}`, {
        method: 'POST',
        headers,
        body: JSON.stringify(tampered),
      }),
    )
    expect(named.status).toBe(403)
    expect(at(named.json, 'message')).toBe(
      "The provided 'x-amz-content-sha256' header does not match what was computed.",
    )
  })

  it('should refuse the service name bedrock-runtime (the host label, not the signing name)', async () => {
    const res = await signedPost(CONVERSE, BASE, {}, aws({ service: 'bedrock-runtime' }))
    expect(res.status).toBe(403)
    expect(res.headers.get('x-amzn-errortype')).toMatch(/^InvalidSignatureException:/)
    expect(res.json).toEqual({
      message: "Credential should be scoped to correct service: 'bedrock'. ",
    })
  })

  it('should refuse another region', async () => {
    const res = await signedPost(CONVERSE, BASE, {}, aws({ region: 'us-west-2' }))
    expect(res.status).toBe(403)
    expect(at(res.json, 'message')).toBe('Credential should be scoped to a valid region. ')
  })

  it('should refuse a signature over a single-encoded `:` (%3A in the canonical URI)', async () => {
    const client = aws()
    const signed = await client.sign(`${fake.url}${CONVERSE}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(BASE),
      aws: { singleEncode: true },
    })
    const res = await readAnswer(
      await fetch(signed.url, {
        method: 'POST',
        headers: signed.headers,
        body: JSON.stringify(BASE),
      }),
    )
    expect(res.status).toBe(403)
    expect(res.headers.get('x-amzn-errortype')).toMatch(/^InvalidSignatureException:/)
    expect(String(at(res.json, 'message'))).toContain('v1%253A0/converse')
  })

  it('should answer an inference-profile ARN model id (`:` and `/` encoded, then signed encoded again)', async () => {
    const arn =
      'arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-haiku-20240307-v1:0'
    const tag = 'bedrock-arn'
    const path = `/bedrock/model/${encodeURIComponent(arn)}/converse`
    const res = await signedPost(path, BASE, { 'x-fake-tag': tag })
    expect(res.status, res.text).toBe(200)
    expect(recordedWithTag(tag)[0]?.path).toContain('inference-profile%2Fus.anthropic')
    const wrong = await signedPost(path, BASE, {}, aws({ secretAccessKey: 'wrong' }))
    expect(String(at(wrong.json, 'message'))).toContain('inference-profile%252Fus.anthropic')
  })

  it('should accept a raw `:` in the path when the signature covers it (as AWS does)', async () => {
    const res = await signedPost(`/bedrock/model/${MODEL}/converse`, BASE)
    expect(res.status).toBe(200)
  })

  it('should refuse an unknown key, a missing Authorization and an expired date', async () => {
    const unknown = await signedPost(
      CONVERSE,
      BASE,
      {},
      aws({ accessKeyId: 'AKIAUNKNOWNKEY000000' }),
    )
    expect(unknown.status).toBe(403)
    expect(unknown.headers.get('x-amzn-errortype')).toMatch(/^UnrecognizedClientException:/)

    const anonymous = await readAnswer(
      await fetch(`${fake.url}${CONVERSE}`, { method: 'POST', body: JSON.stringify(BASE) }),
    )
    expect(anonymous.status).toBe(403)
    expect(anonymous.headers.get('x-amzn-errortype')).toMatch(
      /^MissingAuthenticationTokenException:/,
    )

    const old = new Date(Date.now() - 10 * 60 * 1000)
    const headers = await webCryptoSign(
      `${fake.url}${CONVERSE}`,
      JSON.stringify(BASE),
      BEDROCK_CREDENTIALS,
      old,
    )
    const expired = await readAnswer(
      await fetch(`${fake.url}${CONVERSE}`, {
        method: 'POST',
        headers,
        body: JSON.stringify(BASE),
      }),
    )
    expect(expired.status).toBe(403)
    expect(String(at(expired.json, 'message'))).toMatch(
      /^Signature expired: \d{8}T\d{6}Z is now earlier than \d{8}T\d{6}Z \(\d{8}T\d{6}Z - 5 min\.\)$/,
    )
  })
})

// ================================================================================================
// Validation
// ================================================================================================

const PNG_1PX =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=='

describe('bedrock fake: request validation', () => {
  it('should accept the documented shapes: image, tool use and result, system, every tool choice', async () => {
    const tag = 'bedrock-valid'
    const conversation: JsonObject = {
      system: [{ text: 'You are terse.' }],
      messages: [
        {
          role: 'user',
          content: [
            { text: 'What is in this picture, and the weather in Paris?' },
            { image: { format: 'png', source: { bytes: PNG_1PX } } },
          ],
        },
        {
          role: 'assistant',
          content: [
            { text: 'Let me check.' },
            {
              toolUse: {
                toolUseId: 'tooluse_abc',
                name: 'lookup_weather',
                input: { city: 'Paris' },
              },
            },
          ],
        },
        {
          role: 'user',
          content: [
            {
              toolResult: {
                toolUseId: 'tooluse_abc',
                content: [{ json: { temperature: 21 } }, { text: 'sunny' }],
                status: 'success',
              },
            },
          ],
        },
      ],
      inferenceConfig: { maxTokens: 512, temperature: 0.2, topP: 0.9, stopSequences: ['END'] },
      additionalModelRequestFields: { top_k: 40 },
    }
    for (const toolChoice of [{ auto: {} }, { any: {} }, { tool: { name: 'lookup_stock' } }]) {
      const body = {
        ...conversation,
        toolConfig: { tools: [WEATHER_TOOL, STOCK_TOOL], toolChoice },
      }
      const res = await keyPost(CONVERSE, body, { 'x-fake-tag': tag })
      expect(res.status, res.text).toBe(200)
    }
    expect(recordedWithTag(tag).flatMap((entry) => entry.violations)).toEqual([])
  })

  const INVALID: Array<[string, JsonObject, string]> = [
    [
      'a role outside the enum',
      { messages: [{ role: 'human', content: [{ text: 'hi' }] }] },
      'messages.0.role: Member must satisfy enum value set: [user, assistant, system]',
    ],
    [
      'a message without content',
      { messages: [{ role: 'user' }] },
      'messages.0.content: Member must not be null',
    ],
    [
      'content as a string (OpenAI style)',
      { messages: [{ role: 'user', content: 'hi' }] },
      'messages.0.content: Member must be a list',
    ],
    [
      'an OpenAI-style typed block',
      { messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }] },
      'messages.0.content.0.type: Member is not part of ContentBlock',
    ],
    [
      'an image without format',
      { messages: [{ role: 'user', content: [{ image: { source: { bytes: PNG_1PX } } }] }] },
      'messages.0.content.0.image.format: Member must not be null',
    ],
    [
      'image bytes that are not base64',
      {
        messages: [
          {
            role: 'user',
            content: [{ image: { format: 'png', source: { bytes: 'data:image/png;base64,xx' } } }],
          },
        ],
      },
      'messages.0.content.0.image.source.bytes: Member must be base64-encoded bytes',
    ],
    [
      'a block with two members',
      {
        messages: [
          {
            role: 'user',
            content: [{ text: 'a', image: { format: 'png', source: { bytes: PNG_1PX } } }],
          },
        ],
      },
      'messages.0.content.0: Exactly one member of union ContentBlock must be set',
    ],
    [
      'a toolResult whose content is a string',
      {
        ...TOOLS,
        messages: [
          USER,
          {
            role: 'assistant',
            content: [{ toolUse: { toolUseId: 't1', name: 'lookup_weather', input: {} } }],
          },
          { role: 'user', content: [{ toolResult: { toolUseId: 't1', content: 'sunny' } }] },
        ],
      },
      'messages.2.content.0.toolResult.content: Member must be a list',
    ],
    [
      'a toolUse without input',
      {
        ...TOOLS,
        messages: [
          USER,
          {
            role: 'assistant',
            content: [{ toolUse: { toolUseId: 't1', name: 'lookup_weather' } }],
          },
        ],
      },
      'messages.1.content.0.toolUse.input: Member must not be null',
    ],
    ['system as a string', { ...BASE, system: 'be terse' }, 'system: Member must be a list'],
    [
      'a temperature above 1',
      { ...BASE, inferenceConfig: { temperature: 1.5 } },
      'inferenceConfig.temperature: Member must have value less than or equal to 1',
    ],
    [
      'max_tokens spelt the OpenAI way',
      { ...BASE, inferenceConfig: { max_tokens: 10 } },
      'inferenceConfig.max_tokens: Member is not part of InferenceConfiguration',
    ],
    [
      'two tool choices at once',
      { ...BASE, toolConfig: { tools: [WEATHER_TOOL], toolChoice: { auto: {}, any: {} } } },
      'toolConfig.toolChoice: Exactly one member of union ToolChoice must be set',
    ],
    [
      'a tool choice of none (Bedrock has none)',
      { ...BASE, toolConfig: { tools: [WEATHER_TOOL], toolChoice: { none: {} } } },
      'toolConfig.toolChoice.none: Member is not part of ToolChoice',
    ],
    [
      'an input schema without json',
      {
        ...BASE,
        toolConfig: { tools: [{ toolSpec: { name: 'x', inputSchema: { type: 'object' } } }] },
      },
      'toolConfig.tools.0.toolSpec.inputSchema.type: Member is not part of ToolInputSchema',
    ],
    [
      'a tool name with a dot',
      {
        ...BASE,
        toolConfig: { tools: [{ toolSpec: { name: 'a.b', inputSchema: { json: {} } } }] },
      },
      'toolConfig.tools.0.toolSpec.name: Member must satisfy regular expression pattern',
    ],
    [
      'the model id in the body',
      { ...BASE, modelId: MODEL },
      "modelId: Member belongs in the request's uri",
    ],
    [
      'an unknown top-level field',
      { ...BASE, stream: true },
      'stream: Member is not part of ConverseRequest',
    ],
    [
      'a conversation starting with the assistant',
      { messages: [{ role: 'assistant', content: [{ text: 'Hello' }] }, USER] },
      'A conversation must start with a user message.',
    ],
    [
      'two user turns in a row',
      { messages: [USER, USER] },
      'A conversation must alternate between user and assistant roles.',
    ],
    [
      'a system role in messages',
      { messages: [{ role: 'system', content: [{ text: 'be terse' }] }, USER] },
      'messages.0.role: the system prompt goes in the top-level `system` field',
    ],
    [
      'a blank text block',
      { messages: [{ role: 'user', content: [{ text: '  \n' }] }] },
      'The text field in the ContentBlock object at messages.0.content.0 is blank.',
    ],
    [
      'tool blocks without toolConfig',
      {
        messages: [
          USER,
          {
            role: 'assistant',
            content: [{ toolUse: { toolUseId: 't1', name: 'lookup_weather', input: {} } }],
          },
          {
            role: 'user',
            content: [{ toolResult: { toolUseId: 't1', content: [{ text: 'sunny' }] } }],
          },
        ],
      },
      'The toolConfig field must be defined when using toolUse and toolResult content blocks.',
    ],
    [
      'a tool result for another id',
      {
        ...TOOLS,
        messages: [
          USER,
          {
            role: 'assistant',
            content: [{ toolUse: { toolUseId: 't1', name: 'lookup_weather', input: {} } }],
          },
          {
            role: 'user',
            content: [{ toolResult: { toolUseId: 't2', content: [{ text: 'sunny' }] } }],
          },
        ],
      },
      'Expected toolResult blocks at messages.2.content for the following Ids: t1',
    ],
    [
      'more tool results than tool uses',
      {
        ...TOOLS,
        messages: [
          USER,
          {
            role: 'assistant',
            content: [{ toolUse: { toolUseId: 't1', name: 'lookup_weather', input: {} } }],
          },
          {
            role: 'user',
            content: [
              { toolResult: { toolUseId: 't1', content: [{ text: 'sunny' }] } },
              { toolResult: { toolUseId: 't9', content: [{ text: 'rain' }] } },
            ],
          },
        ],
      },
      'The number of toolResult blocks at messages.2.content exceeds the number of toolUse blocks of previous turn.',
    ],
    [
      'tool input as a JSON string (OpenAI arguments)',
      {
        ...TOOLS,
        messages: [
          USER,
          {
            role: 'assistant',
            content: [
              { toolUse: { toolUseId: 't1', name: 'lookup_weather', input: '{"city":"Paris"}' } },
            ],
          },
          {
            role: 'user',
            content: [{ toolResult: { toolUseId: 't1', content: [{ text: 'sunny' }] } }],
          },
        ],
      },
      'The format of the value at messages.1.content.0.toolUse.input is invalid. Provide a json object',
    ],
    [
      'an error tool result without content',
      {
        ...TOOLS,
        messages: [
          USER,
          {
            role: 'assistant',
            content: [{ toolUse: { toolUseId: 't1', name: 'lookup_weather', input: {} } }],
          },
          {
            role: 'user',
            content: [{ toolResult: { toolUseId: 't1', content: [], status: 'error' } }],
          },
        ],
      },
      'The content field at messages.2.content.0.toolResult cannot be empty when status value is error.',
    ],
    [
      'a tool choice naming no tool',
      {
        ...BASE,
        toolConfig: { tools: [WEATHER_TOOL], toolChoice: { tool: { name: 'lookup_stock' } } },
      },
      'toolConfig.toolChoice.tool.name: lookup_stock is not one of toolConfig.tools',
    ],
  ]

  it.each(INVALID)(
    'should refuse %s with 400 ValidationException, recorded',
    async (description, body, expected) => {
      const tag = `bedrock-invalid: ${description}`
      const res = await keyPost(CONVERSE, body, { 'x-fake-tag': tag })
      expect(res.status).toBe(400)
      expect(res.headers.get('x-amzn-errortype')).toBe(
        'ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/',
      )
      const violations = recordedWithTag(tag).flatMap((entry) => entry.violations)
      expect(
        violations.some((violation) => violation.includes(expected)),
        violations.join('\n'),
      ).toBe(true)
      expect(typeof at(res.json, 'message')).toBe('string')
    },
  )

  it('should word shape errors as AWS’s validator does', async () => {
    const res = await keyPost(CONVERSE, {
      ...BASE,
      inferenceConfig: { temperature: 1.5, maxTokens: 0 },
    })
    expect(at(res.json, 'message')).toBe(
      "2 validation errors detected: Value 1.5 at 'inferenceConfig.temperature' failed to satisfy constraint: Member must have value less than or equal to 1; Value 0 at 'inferenceConfig.maxTokens' failed to satisfy constraint: Member must have value greater than or equal to 1",
    )
  })

  it('should refuse a body that is not JSON, and 404 unknown operations (recorded)', async () => {
    const tag = 'bedrock-not-json'
    const notJson = await readAnswer(
      await fetch(`${fake.url}${CONVERSE}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${BEDROCK_API_KEY}`, 'x-fake-tag': tag },
        body: 'messages=hi',
      }),
    )
    expect(notJson.status).toBe(400)
    expect(recordedWithTag(tag)[0]?.violations).toEqual(['body: not a JSON object'])

    const missingTag = 'bedrock-unknown-op'
    const invoke = await keyPost(`${MODEL_PATH}/invoke`, BASE, { 'x-fake-tag': missingTag })
    expect(invoke.status).toBe(404)
    expect(invoke.headers.get('x-amzn-errortype')).toMatch(/^UnknownOperationException:/)
    expect(recordedWithTag(missingTag)[0]?.violations).toEqual([
      `no such endpoint: POST /model/${encodeURIComponent(MODEL)}/invoke`,
    ])
  })
})

// ================================================================================================
// Answers
// ================================================================================================

/** Text, tool calls and stop reason a decoded stream adds up to. */
const accumulate = (
  events: StreamEvent[],
): {
  text: string
  tools: Array<{ id: string; name: string; input: string }>
  stopReason: unknown
} => {
  let text = ''
  const tools = new Map<number, { id: string; name: string; input: string }>()
  let stopReason: unknown
  for (const { type, payload } of events) {
    const index = Number(payload['contentBlockIndex'])
    if (type === 'contentBlockStart') {
      tools.set(index, {
        id: String(at(payload, 'start', 'toolUse', 'toolUseId')),
        name: String(at(payload, 'start', 'toolUse', 'name')),
        input: '',
      })
    }
    if (type === 'contentBlockDelta') {
      const delta = at(payload, 'delta', 'text')
      if (typeof delta === 'string') text += delta
      const input = at(payload, 'delta', 'toolUse', 'input')
      const tool = tools.get(index)
      if (typeof input === 'string' && tool) tool.input += input
    }
    if (type === 'messageStop') stopReason = payload['stopReason']
  }
  return { text, tools: [...tools.values()], stopReason }
}

/** An event's payload without the `p` padding, fit to be checked against the model. */
const unpadded = ({ payload }: StreamEvent): JsonObject =>
  Object.fromEntries(Object.entries(payload).filter(([key]) => key !== 'p'))

const EVENT_SHAPES: Record<string, string> = {
  messageStart: 'MessageStartEvent',
  contentBlockStart: 'ContentBlockStartEvent',
  contentBlockDelta: 'ContentBlockDeltaEvent',
  contentBlockStop: 'ContentBlockStopEvent',
  messageStop: 'MessageStopEvent',
  metadata: 'ConverseStreamMetadataEvent',
}

describe('bedrock fake: answers', () => {
  it('should answer Converse with the recorded text, stop reason and usage', async () => {
    const text = recorded('stream_text_with_usage')
    const res = await signedPost(CONVERSE, BASE)
    expect(res.status).toBe(200)
    expect(bedrockShapeViolations('ConverseResponse', res.json)).toEqual([])
    expect(at(res.json, 'output', 'message')).toEqual({
      role: 'assistant',
      content: [{ text: text.text }],
    })
    expect(at(res.json, 'stopReason')).toBe('end_turn')
    expect(at(res.json, 'usage')).toEqual({
      inputTokens: text.usage.prompt,
      outputTokens: text.usage.completion,
      totalTokens: text.usage.prompt + text.usage.completion,
    })
    expect(typeof at(res.json, 'metrics', 'latencyMs')).toBe('number')
  })

  it('should stream the same answer as event-stream frames that both decoders accept', async () => {
    const text = recorded('stream_text_with_usage')
    const res = await signedPost(STREAM, BASE)
    expect(res.headers.get('content-type')).toBe('application/vnd.amazon.eventstream')
    const own = ownEvents(res.bytes)
    expect(smithyEvents(res.bytes)).toEqual(own)
    expect(own.every((event) => event.messageType === 'event')).toBe(true)
    expect(own.every((event) => event.contentType === 'application/json')).toBe(true)
    expect(own.every((event) => typeof event.payload['p'] === 'string')).toBe(true)
    const types = own.map((event) => event.type)
    expect(types[0]).toBe('messageStart')
    expect(types.slice(-3)).toEqual(['contentBlockStop', 'messageStop', 'metadata'])
    expect(types.filter((type) => type === 'contentBlockDelta').length).toBeGreaterThan(10)
    expect(types).not.toContain('contentBlockStart')
    for (const event of own) {
      expect(bedrockShapeViolations(EVENT_SHAPES[event.type] ?? '?', unpadded(event))).toEqual([])
    }
    expect(accumulate(own)).toEqual({ text: text.text, tools: [], stopReason: 'end_turn' })
    expect(at(own.at(-1)?.payload, 'usage', 'outputTokens')).toBe(text.usage.completion)
  })

  it('should call the request’s tool with the recorded input, streamed and not', async () => {
    const tool = recorded('stream_single_tool_call_with_usage')
    const res = await signedPost(CONVERSE, TOOLS)
    expect(bedrockShapeViolations('ConverseResponse', res.json)).toEqual([])
    expect(at(res.json, 'stopReason')).toBe('tool_use')
    const block = at(res.json, 'output', 'message', 'content', 0, 'toolUse')
    expect(at(block, 'name')).toBe('lookup_weather')
    expect(at(block, 'toolUseId')).toMatch(/^tooluse_[A-Za-z0-9]{22}$/)
    expect(at(block, 'input')).toEqual(JSON.parse(tool.args[0] ?? ''))

    const streamed = await signedPost(STREAM, TOOLS)
    const own = ownEvents(streamed.bytes)
    expect(smithyEvents(streamed.bytes)).toEqual(own)
    for (const event of own) {
      expect(bedrockShapeViolations(EVENT_SHAPES[event.type] ?? '?', unpadded(event))).toEqual([])
    }
    expect(own.map((event) => event.type).slice(0, 2)).toEqual([
      'messageStart',
      'contentBlockStart',
    ])
    const { tools, stopReason } = accumulate(own)
    expect(stopReason).toBe('tool_use')
    expect(tools).toHaveLength(1)
    expect(tools[0]?.name).toBe('lookup_weather')
    expect(tools[0]?.input).toBe(tool.args[0])
    expect(own.filter((event) => event.type === 'contentBlockDelta').length).toBeGreaterThan(3)
  })

  it('should call the toolChoice tool, give parallel calls their own blocks, and answer a result in text', async () => {
    const chosen = await keyPost(CONVERSE, {
      ...BASE,
      toolConfig: {
        tools: [WEATHER_TOOL, STOCK_TOOL],
        toolChoice: { tool: { name: 'lookup_stock' } },
      },
    })
    expect(at(chosen.json, 'output', 'message', 'content', 0, 'toolUse', 'name')).toBe(
      'lookup_stock',
    )

    const parallel = recorded('stream_parallel_tool_calls')
    const res = await keyPost(
      STREAM,
      { ...BASE, toolConfig: { tools: [WEATHER_TOOL, STOCK_TOOL] } },
      { 'x-fake-fixture': 'stream_parallel_tool_calls' },
    )
    const { tools } = accumulate(ownEvents(res.bytes))
    expect(tools.map((call) => call.name)).toEqual(['lookup_weather', 'lookup_stock'])
    expect(tools.map((call) => call.input)).toEqual(parallel.args)
    expect(new Set(tools.map((call) => call.id)).size).toBe(2)

    const toolUseId = String(
      at(chosen.json, 'output', 'message', 'content', 0, 'toolUse', 'toolUseId'),
    )
    const followUp = await keyPost(CONVERSE, {
      ...TOOLS,
      messages: [
        USER,
        {
          role: 'assistant',
          content: [{ toolUse: { toolUseId, name: 'lookup_weather', input: { city: 'Paris' } } }],
        },
        {
          role: 'user',
          content: [{ toolResult: { toolUseId, content: [{ text: '21°C, sunny' }] } }],
        },
      ],
    })
    expect(followUp.status).toBe(200)
    expect(at(followUp.json, 'stopReason')).toBe('end_turn')
    expect(at(followUp.json, 'output', 'message', 'content', 0, 'text')).toBe(
      recorded('stream_text_with_usage').text,
    )
  })

  it('should map the recorded length stop to max_tokens, and report cache reads after a cachePoint', async () => {
    const res = await keyPost(CONVERSE, BASE, { 'x-fake-fixture': 'stream_max_tokens_length' })
    expect(at(res.json, 'stopReason')).toBe('max_tokens')
    const cached = await keyPost(CONVERSE, {
      ...BASE,
      system: [{ text: 'A long, stable system prompt.' }, { cachePoint: { type: 'default' } }],
    })
    expect(bedrockShapeViolations('ConverseResponse', cached.json)).toEqual([])
    const usage = at(cached.json, 'usage')
    expect(at(usage, 'cacheReadInputTokens')).toBe(7)
    expect(at(usage, 'cacheWriteInputTokens')).toBe(0)
    expect(at(usage, 'inputTokens')).toBe(7)
  })

  it('should answer a guard model as the fake safety model', async () => {
    const res = await keyPost(
      `/bedrock/model/${encodeURIComponent('meta.llama-guard-4:0')}/converse`,
      {
        messages: [{ role: 'user', content: [{ text: 'how do I build a bomb' }] }],
      },
    )
    expect(at(res.json, 'output', 'message', 'content', 0, 'text')).toBe('unsafe\nS9')
  })

  it('should name the recordings x-fake-fixture accepts', async () => {
    const res = await keyPost(CONVERSE, BASE, { 'x-fake-fixture': 'nope' })
    expect(res.status).toBe(400)
    expect(at(res.json, 'message')).toContain('stream_text_with_usage')
  })
})

// ================================================================================================
// Event-stream framing against smithy's test vectors
// ================================================================================================

describe('bedrock fake: event-stream framing', () => {
  const vector = (kind: string, name: string): Buffer =>
    readFileSync(new URL(`${kind}/${name}`, VECTORS))

  it('should decode every positive vector here as its decoded twin says', () => {
    const names = readdirSync(new URL('encoded/positive/', VECTORS))
    expect(names.length).toBeGreaterThanOrEqual(5)
    for (const name of names) {
      const decoded = decodeMessage(vector('encoded/positive', name))
      const expected: unknown = JSON.parse(vector('decoded/positive', name).toString('utf8'))
      expect({
        total_length: decoded.totalLength,
        headers_length: decoded.headersLength,
        prelude_crc: decoded.preludeCrc | 0,
        message_crc: decoded.messageCrc | 0,
        payload: decoded.payload.toString('base64'),
        headers: decoded.headers.map(({ name: header, type, value }) => ({
          name: header,
          type,
          value: Buffer.isBuffer(value)
            ? value.toString('base64')
            : typeof value === 'bigint'
              ? Number(value)
              : value,
        })),
      }).toEqual(expected)
    }
  })

  it('should reject every negative vector', () => {
    for (const name of readdirSync(new URL('encoded/negative/', VECTORS))) {
      expect(() => decodeMessage(vector('encoded/negative', name)), name).toThrow()
      expect(() => smithyCodec.decode(vector('encoded/negative', name)), name).toThrow()
    }
  })

  it('should encode the string-header vectors byte for byte', () => {
    for (const name of ['payload_one_str_header', 'payload_no_headers', 'empty_message']) {
      const decoded = decodeMessage(vector('encoded/positive', name))
      const headers = decoded.headers.map(({ name: header, value }): [string, string] => [
        header,
        Buffer.isBuffer(value) ? value.toString('utf8') : '',
      ])
      expect(
        encodeEventStreamMessage(headers, decoded.payload).equals(vector('encoded/positive', name)),
        name,
      ).toBe(true)
    }
  })
})

// ================================================================================================
// Faults
// ================================================================================================

describe('bedrock fake: faults', () => {
  it.each([
    [429, 'ThrottlingException'],
    [400, 'ValidationException'],
    [403, 'AccessDeniedException'],
    [404, 'ResourceNotFoundException'],
    [500, 'InternalServerException'],
    [503, 'ServiceUnavailableException'],
  ])('should answer x-fake-status %i with %s in the AWS error shape', async (status, type) => {
    const res = await signedPost(STREAM, BASE, {
      'x-fake-status': String(status),
      'x-fake-retry-after': '2',
    })
    expect(res.status).toBe(status)
    expect(res.headers.get('x-amzn-errortype')).toBe(
      `${type}:http://internal.amazon.com/coral/com.amazon.bedrock/`,
    )
    expect(res.headers.get('x-amzn-requestid')).toMatch(/^[0-9a-f-]{36}$/)
    expect(res.headers.get('retry-after')).toBe('2')
    expect(Object.keys(res.json as object)).toEqual(['message'])
  })

  it('should check the signature before a forced status', async () => {
    const res = await signedPost(
      CONVERSE,
      BASE,
      { 'x-fake-status': '429' },
      aws({ secretAccessKey: 'wrong' }),
    )
    expect(res.status).toBe(403)
  })

  it('should apply the shared latency header', async () => {
    const started = Date.now()
    await keyPost(CONVERSE, BASE, { 'x-fake-latency-ms': '120' })
    expect(Date.now() - started).toBeGreaterThanOrEqual(110)
  })

  it('should cut the stream after x-fake-cut-after whole frames, then break the socket', async () => {
    const cut = await rawPost(STREAM, BASE, { 'x-fake-cut-after': '3' })
    expect(cut.status).toBe(200)
    expect(cut.outcome).toBe('error')
    const { messages, rest } = splitMessages(cut.bytes)
    expect(messages).toHaveLength(3)
    expect(rest.length).toBe(0)
    expect(messages.map((bytes) => stringHeader(decodeMessage(bytes), ':event-type'))).toEqual([
      'messageStart',
      'contentBlockDelta',
      'contentBlockDelta',
    ])
  })

  it('should cut mid-frame with x-fake-cut-mid-frame: 1', async () => {
    const cut = await rawPost(STREAM, BASE, {
      'x-fake-cut-after': '3',
      'x-fake-cut-mid-frame': '1',
    })
    expect(cut.outcome).toBe('error')
    const { messages, rest } = splitMessages(cut.bytes)
    expect(messages).toHaveLength(3)
    expect(rest.length).toBeGreaterThan(0)
    expect(rest.readUInt32BE(0)).toBeGreaterThan(rest.length)
    expect(() => smithyCodec.decode(rest)).toThrow()
  })

  it('should corrupt one frame’s message CRC with x-fake-bad-crc: N', async () => {
    const res = await keyPost(STREAM, BASE, { 'x-fake-bad-crc': '2' })
    const { messages } = splitMessages(res.bytes)
    expect(messages.length).toBeGreaterThan(5)
    messages.forEach((bytes, index) => {
      if (index === 1) {
        expect(() => decodeMessage(bytes)).toThrow('Message checksum mismatch')
        expect(() => smithyCodec.decode(bytes)).toThrow(/message checksum/i)
      } else {
        expect(() => decodeMessage(bytes)).not.toThrow()
      }
    })
  })

  it.each(bedrockStreamExceptionTypes())(
    'should send a %s exception frame mid-stream on x-fake-exception',
    async (type) => {
      const res = await keyPost(STREAM, BASE, { 'x-fake-exception': type })
      expect(res.status).toBe(200)
      const own = ownEvents(res.bytes)
      expect(smithyEvents(res.bytes)).toEqual(own)
      expect(own.map((event) => event.messageType)).toEqual(['event', 'event', 'exception'])
      const last = own.at(-1)
      expect(last?.type).toBe(type)
      expect(typeof last?.payload['message']).toBe('string')
      const shape = type.charAt(0).toUpperCase() + type.slice(1)
      expect(bedrockShapeViolations(shape, last?.payload)).toEqual([])
    },
  )

  it('should refuse an unknown x-fake-exception, and end with a modelStreamErrorException on x-fake-error-event', async () => {
    const unknown = await keyPost(STREAM, BASE, { 'x-fake-exception': 'nopeException' })
    expect(unknown.status).toBe(400)
    const res = await keyPost(STREAM, BASE, { 'x-fake-error-event': '1' })
    const own = ownEvents(res.bytes)
    expect(own.map((event) => event.type)).toEqual([
      'messageStart',
      'contentBlockDelta',
      'modelStreamErrorException',
    ])
    expect(own.at(-1)?.payload['originalStatusCode']).toBe(500)
  })

  it('should cut a non-streamed answer after x-fake-cut-after bytes', async () => {
    const cut = await rawPost(CONVERSE, BASE, { 'x-fake-cut-after': '20' })
    expect(cut.outcome).toBe('error')
    expect(cut.bytes.length).toBe(20)
  })
})
