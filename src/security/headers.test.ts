import { describe, expect, it } from 'vitest'
import { sanitizeRequestHeaders, sanitizeResponseHeaders } from './headers'

const entries = (headers: Headers | Record<string, string>): [string, string][] =>
  (headers instanceof Headers ? [...headers] : Object.entries(headers)).sort(([a], [b]) =>
    a.localeCompare(b),
  )

describe('sanitizeRequestHeaders', () => {
  it.each([
    ['authorization', 'Bearer flo_sk_live_secret'],
    ['proxy-authorization', 'Basic c2VjcmV0'],
    ['cookie', 'session=secret'],
    ['x-api-key', 'sk-ant-secret'],
    ['api-key', 'azure-secret'],
    ['x-goog-api-key', 'AIza-secret'],
    ['host', 'gateway.floopy.ai'],
    ['forwarded', 'for=203.0.113.9;proto=https'],
    ['x-real-ip', '203.0.113.9'],
    ['true-client-ip', '203.0.113.9'],
    ['x-client-ip', '203.0.113.9'],
    ['x-cluster-client-ip', '203.0.113.9'],
    ['fastly-client-ip', '203.0.113.9'],
    ['x-forwarded-for', '203.0.113.9, 198.51.100.1'],
    ['x-forwarded-host', 'gateway.floopy.ai'],
    ['x-forwarded-proto', 'https'],
    ['x-forwarded-port', '443'],
    ['x-forwarded-anything', 'x'],
    ['cf-connecting-ip', '203.0.113.9'],
    ['cf-connecting-ipv6', '2001:db8::9'],
    ['cf-ipcountry', 'NL'],
    ['cf-ray', '8f0000000000000-AMS'],
    ['cf-visitor', '{"scheme":"https"}'],
    ['cf-worker', 'floopy.workers.dev'],
    ['cf-aig-authorization', 'Bearer cf-secret'],
    ['connection', 'keep-alive'],
    ['keep-alive', 'timeout=5'],
    ['proxy-connection', 'keep-alive'],
    ['te', 'trailers'],
    ['trailer', 'x-checksum'],
    ['transfer-encoding', 'chunked'],
    ['upgrade', 'websocket'],
    ['content-length', '1234'],
    ['accept-encoding', 'gzip, br'],
    ['floopy-prompt-id', 'welcome'],
    ['floopy-prompt-version', '3'],
    ['floopy-cache-enabled', 'true'],
    ['floopy-cache-ttl', '60'],
    ['floopy-llm-security-enabled', 'false'],
    ['floopy-anything-new', 'x'],
  ])('should strip %s', (name, value) => {
    const incoming = new Headers({ [name]: value, 'x-keep': 'kept' })
    const outgoing = sanitizeRequestHeaders(incoming)
    expect(outgoing.has(name)).toBe(false)
    expect(entries(outgoing)).toEqual([['x-keep', 'kept']])
  })

  it.each([
    'Authorization',
    'AUTHORIZATION',
    'X-Forwarded-For',
    'CF-Connecting-IP',
    'Cf-Ipcountry',
    'Floopy-Cache-TTL',
    'FLOOPY-PROMPT-ID',
    'X-Goog-Api-Key',
    'Transfer-Encoding',
    'Content-Length',
  ])('should strip %s whatever its case', (name) => {
    const outgoing = sanitizeRequestHeaders(
      new Headers([
        [name, 'v'],
        ['X-Keep', 'kept'],
      ]),
    )
    expect(entries(outgoing)).toEqual([['x-keep', 'kept']])
  })

  it.each([
    ['x-hop-secret', ['x-hop-secret']],
    ['X-Hop-Secret', ['x-hop-secret']],
    ['x-hop-secret, x-other-hop', ['x-hop-secret', 'x-other-hop']],
    ['  x-hop-secret ,x-other-hop,, ', ['x-hop-secret', 'x-other-hop']],
    ['keep-alive, X-Other-Hop', ['x-other-hop']],
    ['close,openai-organization', ['openai-organization']],
  ])('should strip the headers named by Connection: %j', (connection, nominated) => {
    const incoming = new Headers({
      connection,
      'x-hop-secret': 'a',
      'x-other-hop': 'b',
      'openai-organization': 'org-1',
      'x-keep': 'kept',
    })
    const outgoing = sanitizeRequestHeaders(incoming)
    for (const name of nominated) expect(outgoing.has(name)).toBe(false)
    const expected = ['openai-organization', 'x-hop-secret', 'x-keep', 'x-other-hop']
      .filter((name) => !nominated.includes(name))
      .sort()
    expect([...outgoing.keys()].sort()).toEqual(expected)
  })

  it('should keep headers named like a nominee when there is no Connection header', () => {
    const incoming = new Headers({ 'x-hop-secret': 'a', 'openai-organization': 'org-1' })
    expect(entries(sanitizeRequestHeaders(incoming))).toEqual([
      ['openai-organization', 'org-1'],
      ['x-hop-secret', 'a'],
    ])
  })

  it.each([
    ['openai-organization', 'org-123'],
    ['openai-project', 'proj_abc'],
    ['openai-beta', 'assistants=v2'],
    ['x-stainless-lang', 'js'],
    ['x-stainless-package-version', '4.77.0'],
    ['x-stainless-retry-count', '0'],
    ['x-stainless-timeout', '600'],
    ['user-agent', 'OpenAI/JS 4.77.0'],
    ['x-request-id', 'req_client_1'],
    ['x-foo', 'bar'],
    ['content-type', 'application/json'],
    ['accept', 'text/event-stream'],
    ['anthropic-version', '2023-06-01'],
    ['anthropic-beta', 'prompt-caching-2024-07-31'],
    ['idempotency-key', 'idem-1'],
    // Near misses of the stripped names and prefixes
    ['x-forwarded', 'not-a-family-member'],
    ['x-cf-trace', '1'],
    ['cfg-mode', 'fast'],
    ['x-floopy-debug', '1'],
    ['floopy', 'bare'],
    ['x-api-key-id', 'key-id-not-a-key'],
    ['authorization-hint', 'none'],
    ['tee', 'shirt'],
  ])('should pass %s through unchanged', (name, value) => {
    const outgoing = sanitizeRequestHeaders(new Headers({ [name]: value, authorization: 'x' }))
    expect(entries(outgoing)).toEqual([[name, value]])
  })

  it('should forward a realistic SDK request minus everything private', () => {
    const incoming = new Headers({
      Authorization: 'Bearer flo_sk_live_abc',
      'Content-Type': 'application/json',
      'Content-Length': '512',
      Accept: 'application/json',
      'Accept-Encoding': 'gzip, deflate, br',
      'User-Agent': 'OpenAI/Python 1.54.0',
      'X-Stainless-Lang': 'python',
      'X-Stainless-Arch': 'arm64',
      'OpenAI-Organization': 'org-123',
      Host: 'gateway.floopy.ai',
      'CF-Connecting-IP': '203.0.113.9',
      'X-Forwarded-For': '203.0.113.9',
      'X-Forwarded-Proto': 'https',
      'Floopy-Cache-Enabled': 'true',
      Connection: 'keep-alive',
    })
    expect(entries(sanitizeRequestHeaders(incoming))).toEqual([
      ['accept', 'application/json'],
      ['content-type', 'application/json'],
      ['openai-organization', 'org-123'],
      ['user-agent', 'OpenAI/Python 1.54.0'],
      ['x-stainless-arch', 'arm64'],
      ['x-stainless-lang', 'python'],
    ])
  })

  it('should keep every value of a repeated header', () => {
    const incoming = new Headers([
      ['x-foo', 'a'],
      ['x-foo', 'b'],
    ])
    expect(sanitizeRequestHeaders(incoming).get('x-foo')).toBe('a, b')
  })

  it('should return a new Headers and leave the input untouched', () => {
    const incoming = new Headers({ authorization: 'Bearer flo_sk_live_abc', 'x-foo': 'bar' })
    const outgoing = sanitizeRequestHeaders(incoming)
    expect(outgoing).not.toBe(incoming)
    expect(entries(incoming)).toEqual([
      ['authorization', 'Bearer flo_sk_live_abc'],
      ['x-foo', 'bar'],
    ])
    outgoing.set('x-added', '1')
    expect(incoming.has('x-added')).toBe(false)
  })

  it('should keep provider auth set after sanitising', () => {
    const outgoing = sanitizeRequestHeaders(
      new Headers({ authorization: 'Bearer flo_sk_live_abc' }),
    )
    outgoing.set('authorization', 'Bearer sk-provider')
    expect(outgoing.get('authorization')).toBe('Bearer sk-provider')
  })
})

describe('sanitizeResponseHeaders', () => {
  it.each([
    ['content-type', 'text/event-stream; charset=utf-8'],
    ['retry-after', '20'],
    ['retry-after-ms', '19500'],
    ['openai-processing-ms', '312'],
    ['openai-version', '2020-10-01'],
  ])('should relay %s', (name, value) => {
    const relayed = sanitizeResponseHeaders(new Headers({ [name]: value, server: 'x' }))
    expect(entries(relayed)).toEqual([[name, value]])
  })

  it.each([
    ['x-request-id', 'req_openai_1'],
    ['X-Request-ID', 'req_openai_1'],
    ['request-id', 'req_anthropic_1'],
    ['Request-Id', 'req_anthropic_1'],
  ])(
    'should relay the provider request id from %s as floopy-upstream-request-id',
    (name, value) => {
      const relayed = sanitizeResponseHeaders(new Headers({ [name]: value }))
      expect(entries(relayed)).toEqual([['floopy-upstream-request-id', value]])
    },
  )

  it('should prefer x-request-id over request-id', () => {
    const upstream = new Headers({ 'request-id': 'second', 'x-request-id': 'first' })
    expect(sanitizeResponseHeaders(upstream)['floopy-upstream-request-id']).toBe('first')
  })

  it.each([
    ['set-cookie', '__cf_bm=abc; Path=/; HttpOnly'],
    ['server', 'cloudflare'],
    ['via', '1.1 google'],
    ['alt-svc', 'h3=":443"'],
    ['strict-transport-security', 'max-age=31536000'],
    ['content-length', '1234'],
    ['content-encoding', 'br'],
    ['transfer-encoding', 'chunked'],
    ['connection', 'keep-alive'],
    ['date', 'Tue, 01 Jul 2025 00:00:00 GMT'],
    ['cf-ray', '8f0000000000000-AMS'],
    ['cf-cache-status', 'DYNAMIC'],
    ['openai-organization', 'org-internal'],
    ['openai-project', 'proj_internal'],
    ['x-ratelimit-limit-requests', '10000'],
    ['x-ratelimit-remaining-tokens', '149000'],
    ['x-ratelimit-reset-requests', '6ms'],
    ['anthropic-ratelimit-requests-remaining', '49'],
    ['anthropic-organization-id', 'org-uuid'],
    ['x-envoy-upstream-service-time', '300'],
    ['access-control-allow-origin', '*'],
    ['x-request-id-extra', 'no'],
  ])('should drop %s', (name, value) => {
    const relayed = sanitizeResponseHeaders(new Headers({ [name]: value }))
    expect(entries(relayed)).toEqual([])
  })

  it('should reduce a realistic OpenAI response to the relayed set', () => {
    const upstream = new Headers([
      ['Date', 'Tue, 01 Jul 2025 00:00:00 GMT'],
      ['Content-Type', 'application/json'],
      ['Transfer-Encoding', 'chunked'],
      ['Connection', 'keep-alive'],
      ['access-control-expose-headers', 'X-Request-ID'],
      ['openai-organization', 'user-abc'],
      ['openai-processing-ms', '412'],
      ['openai-version', '2020-10-01'],
      ['x-ratelimit-limit-requests', '10000'],
      ['x-ratelimit-remaining-requests', '9999'],
      ['x-request-id', 'req_abc123'],
      ['strict-transport-security', 'max-age=31536000; includeSubDomains; preload'],
      ['CF-Cache-Status', 'DYNAMIC'],
      ['Set-Cookie', '__cf_bm=abc; path=/; HttpOnly; Secure'],
      ['Set-Cookie', '_cfuvid=def; path=/; HttpOnly; Secure'],
      ['Server', 'cloudflare'],
      ['CF-RAY', '8f0000000000000-AMS'],
      ['Content-Encoding', 'br'],
      ['alt-svc', 'h3=":443"; ma=86400'],
    ])
    expect(entries(sanitizeResponseHeaders(upstream))).toEqual([
      ['content-type', 'application/json'],
      ['floopy-upstream-request-id', 'req_abc123'],
      ['openai-processing-ms', '412'],
      ['openai-version', '2020-10-01'],
    ])
  })

  it('should return a new record and leave the input untouched', () => {
    const upstream = new Headers({ 'content-type': 'application/json', server: 'x' })
    const relayed = sanitizeResponseHeaders(upstream)
    relayed['x-added'] = '1'
    expect(entries(upstream)).toEqual([
      ['content-type', 'application/json'],
      ['server', 'x'],
    ])
  })
})
