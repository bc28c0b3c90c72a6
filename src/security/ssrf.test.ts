import { describe, expect, it } from 'vitest'
import { checkDestination, classifyHost, type HostClass } from './ssrf'

describe('classifyHost', () => {
  it.each<[string, HostClass]>([
    // IPv4 ranges
    ['8.8.8.8', 'public'],
    ['104.18.6.192', 'public'],
    ['0.0.0.0', 'unspecified'],
    ['0.255.255.255', 'unspecified'],
    ['10.0.0.1', 'private'],
    ['10.255.255.255', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['172.15.255.255', 'public'],
    ['172.32.0.0', 'public'],
    ['192.168.1.1', 'private'],
    ['192.169.0.1', 'public'],
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['169.254.0.1', 'link-local'],
    ['169.254.169.254', 'metadata'],
    ['169.254.170.2', 'metadata'],
    ['168.63.129.16', 'metadata'],
    ['100.64.0.1', 'cgnat'],
    ['100.127.255.255', 'cgnat'],
    ['100.128.0.0', 'public'],
    ['100.63.255.255', 'public'],
    ['100.100.100.200', 'metadata'],
    ['192.0.0.8', 'reserved'],
    ['192.0.2.1', 'reserved'],
    ['192.88.99.1', 'reserved'],
    ['198.18.0.1', 'reserved'],
    ['198.19.255.255', 'reserved'],
    ['198.20.0.0', 'public'],
    ['198.51.100.7', 'reserved'],
    ['203.0.113.9', 'reserved'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['240.0.0.1', 'reserved'],
    ['255.255.255.255', 'reserved'],
  ])('should classify IPv4 %s as %s', (host, expected) => {
    expect(classifyHost(host)).toBe(expected)
  })

  it.each<[string, HostClass]>([
    // Legacy IPv4 spellings, as a raw host string (the WHATWG IPv4 parser's forms)
    ['2130706433', 'loopback'],
    ['0x7f.1', 'loopback'],
    ['0X7F.0.0.1', 'loopback'],
    ['127.1', 'loopback'],
    ['127.0.1', 'loopback'],
    ['017700000001', 'loopback'],
    ['0177.0.0.1', 'loopback'],
    ['0x7f000001', 'loopback'],
    ['0xa9fea9fe', 'metadata'],
    ['2852039166', 'metadata'],
    ['0', 'unspecified'],
    ['10.1', 'private'],
    ['127.0.0.1.', 'loopback'],
    ['127.0.0.1..', 'loopback'],
    // Looks numeric but no valid address: WHATWG rejects these, the guard fails closed
    ['1.2.3.4.5', 'reserved'],
    ['256.0.0.1', 'reserved'],
    ['4294967296', 'reserved'],
    ['127.0.0.08', 'reserved'],
    ['example.0x', 'reserved'],
    ['api.openai.123', 'reserved'],
  ])('should see through the IPv4 spelling %s (%s)', (host, expected) => {
    expect(classifyHost(host)).toBe(expected)
  })

  it.each<[string, HostClass]>([
    ['[::1]', 'loopback'],
    ['::1', 'loopback'],
    ['[0:0:0:0:0:0:0:1]', 'loopback'],
    ['[::]', 'unspecified'],
    ['::', 'unspecified'],
    ['[fc00::1]', 'private'],
    ['[fd12:3456:789a::1]', 'private'],
    ['[fe80::1]', 'link-local'],
    ['[febf:ffff::1]', 'link-local'],
    ['[fe80::1%25eth0]', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['[fec0::1]', 'private'],
    ['[ff02::1]', 'multicast'],
    ['[ff05::1:3]', 'multicast'],
    ['[fd00:ec2::254]', 'metadata'],
    // IPv4-mapped (RFC 4291 §2.5.5.2), dotted and hex
    ['[::ffff:127.0.0.1]', 'loopback'],
    ['[::ffff:7f00:1]', 'loopback'],
    ['[::FFFF:7F00:1]', 'loopback'],
    ['[::ffff:10.0.0.1]', 'private'],
    ['[::ffff:a9fe:a9fe]', 'metadata'],
    ['[0:0:0:0:0:ffff:c0a8:101]', 'private'],
    ['[::ffff:8.8.8.8]', 'public'],
    // NAT64 (RFC 6052)
    ['[64:ff9b::127.0.0.1]', 'loopback'],
    ['[64:ff9b::a00:1]', 'private'],
    ['[64:ff9b::a9fe:a9fe]', 'metadata'],
    ['[64:ff9b::808:808]', 'public'],
    ['[64:ff9b:1::a00:1]', 'private'],
    // 6to4 (RFC 3056)
    ['[2002:7f00:1::]', 'loopback'],
    ['[2002:c0a8:101::1]', 'private'],
    ['[2002:a9fe:a9fe::]', 'metadata'],
    ['[2002:808:808::1]', 'public'],
    // IPv4-compatible and SIIT-translated (deprecated)
    ['[::127.0.0.1]', 'loopback'],
    ['[::7f00:1]', 'loopback'],
    ['[::a00:1]', 'private'],
    ['[::808:808]', 'reserved'],
    ['[::ffff:0:7f00:1]', 'loopback'],
    ['[::ffff:0:808:808]', 'reserved'],
    // Special-purpose and unassigned
    ['[2001:db8::1]', 'reserved'],
    ['[2001:0db8:85a3::8a2e:370:7334]', 'reserved'],
    ['[2001::1]', 'reserved'],
    ['[3fff::1]', 'reserved'],
    ['[100::1]', 'reserved'],
    ['[4000::1]', 'reserved'],
    ['[::2:0:0:1]', 'reserved'],
    // Global unicast
    ['[2606:4700::6810:85e5]', 'public'],
    ['[2001:4860:4860::8888]', 'public'],
    ['2a00:1450:4001::200e', 'public'],
    // Malformed: fail closed
    ['[1::2::3]', 'reserved'],
    ['[:::]', 'reserved'],
    ['[12345::]', 'reserved'],
    ['[1:2:3:4:5:6:7:8:9]', 'reserved'],
    ['[1:2:3:4:5:6:7]', 'reserved'],
    ['[1:2:3:4:5:6:7::8]', 'reserved'],
    ['[::ffff:127.0.0.256]', 'reserved'],
    ['[::ffff:127.1]', 'reserved'],
    ['[g::1]', 'reserved'],
  ])('should classify IPv6 %s as %s', (host, expected) => {
    expect(classifyHost(host)).toBe(expected)
  })

  it.each<[string, HostClass]>([
    ['api.openai.com', 'public'],
    ['API.OpenAI.com', 'public'],
    ['generativelanguage.googleapis.com', 'public'],
    ['localhost', 'loopback'],
    ['LOCALHOST', 'loopback'],
    ['localhost.', 'loopback'],
    ['localhost..', 'loopback'],
    ['api.localhost', 'loopback'],
    ['a.b.localhost.', 'loopback'],
    ['metadata.google.internal', 'metadata'],
    ['metadata.google.internal.', 'metadata'],
    ['Metadata.Google.Internal', 'metadata'],
    ['metadata', 'metadata'],
    ['metadata.', 'metadata'],
    ['instance-data', 'metadata'],
    ['instance-data.ec2.internal', 'metadata'],
    ['metadata.tencentyun.com', 'metadata'],
    ['vllm.internal', 'internal-name'],
    ['ip-10-0-0-1.ec2.internal', 'internal-name'],
    ['printer.local', 'internal-name'],
    ['printer.local.', 'internal-name'],
    ['box.localdomain', 'internal-name'],
    ['nas.home.arpa', 'internal-name'],
    ['router.lan', 'internal-name'],
    ['gpu.corp', 'internal-name'],
    ['vllm', 'internal-name'],
    ['vllm.', 'internal-name'],
    ['', 'reserved'],
    ['.', 'reserved'],
    // Near misses that must stay public
    ['localhost.example.com', 'public'],
    ['notlocalhost', 'internal-name'],
    ['mylocalhost.com', 'public'],
    ['internal.example.com', 'public'],
    ['local.example.com', 'public'],
    ['metadata.example.com', 'public'],
    ['example.internalx', 'public'],
    ['xlocal.dev', 'public'],
    ['127.0.0.1.nip.io', 'public'],
  ])('should classify the name %j as %s', (host, expected) => {
    expect(classifyHost(host)).toBe(expected)
  })

  it.each<[string, HostClass]>([
    // The WHATWG URL parser normalises these before the guard reads `url.hostname`
    ['http://2130706433/', 'loopback'],
    ['http://0x7f.1/', 'loopback'],
    ['http://127.1/', 'loopback'],
    ['http://017700000001/', 'loopback'],
    ['http://0177.0.0.01/', 'loopback'],
    ['http://0x7f000001/', 'loopback'],
    ['http://127.0.0.1./', 'loopback'],
    ['http://127%2E0%2E0%2E1/', 'loopback'],
    ['http://\uff11\uff12\uff17.\uff10.\uff10.\uff11/', 'loopback'],
    ['http://0/', 'unspecified'],
    ['http://0x0/', 'unspecified'],
    ['http://2852039166/', 'metadata'],
    ['http://169.254.169.254./latest/meta-data/', 'metadata'],
    ['http://0xa9.0xfe.0xa9.0xfe/', 'metadata'],
    ['http://[::1]/', 'loopback'],
    ['http://[0:0::1]/', 'loopback'],
    ['http://[::]/', 'unspecified'],
    ['http://[::ffff:127.0.0.1]/', 'loopback'],
    ['http://[::ffff:169.254.169.254]/', 'metadata'],
    ['http://[64:ff9b::10.0.0.1]/', 'private'],
    ['http://[2002:c0a8:0101::]/', 'private'],
    ['http://[FE80::1]/', 'link-local'],
    ['http://LocalHost./', 'loopback'],
    ['http://metadata.google.internal./', 'metadata'],
    ['http://user@localhost/', 'loopback'],
    ['https://api.openai.com/', 'public'],
  ])('should classify url.hostname of %s as %s', (href, expected) => {
    expect(classifyHost(new URL(href).hostname)).toBe(expected)
  })
})

describe('checkDestination', () => {
  const registry = (href: string) => ({
    operatorConfigured: false,
    allowedOrigin: new URL(href).origin,
  })
  const operator = (href: string) => ({
    operatorConfigured: true,
    allowedOrigin: new URL(href).origin,
  })

  it.each([
    'https://api.openai.com/v1/chat/completions',
    'https://api.anthropic.com/v1/messages',
    'https://generativelanguage.googleapis.com/v1beta/models/gemini:streamGenerateContent?alt=sse',
    'https://api.groq.com:443/openai/v1/embeddings',
    'https://[2606:4700::6810:85e5]/v1/models',
  ])('should allow the registry destination %s', (href) => {
    expect(checkDestination(new URL(href), registry(href))).toEqual({ allowed: true })
  })

  it.each([
    'http://127.0.0.1:8000/v1/chat/completions',
    'http://localhost:11434/v1/chat/completions',
    'http://localhost.:11434/v1',
    'http://10.0.0.5:8000/v1/chat/completions',
    'https://192.168.1.20/v1',
    'http://172.20.0.3:8080/v1',
    'http://100.64.0.7/v1',
    'http://169.254.10.10/v1',
    'http://[::1]:8000/v1',
    'http://[fd00::5]:8000/v1',
    'http://[fe80::5]/v1',
    'http://vllm:8000/v1',
    'http://vllm.internal:8000/v1',
    'http://gpu-box.local/v1',
    'https://api.openai.com/v1',
    'http://api.example.com/v1',
  ])('should allow the operator-configured endpoint %s', (href) => {
    expect(checkDestination(new URL(href), operator(href))).toEqual({ allowed: true })
  })

  it.each<[string, HostClass]>([
    ['https://127.0.0.1/v1', 'loopback'],
    ['https://2130706433/v1', 'loopback'],
    ['https://0x7f.1/v1', 'loopback'],
    ['https://127.1/v1', 'loopback'],
    ['https://017700000001/v1', 'loopback'],
    ['https://localhost/v1', 'loopback'],
    ['https://localhost./v1', 'loopback'],
    ['https://evil.localhost/v1', 'loopback'],
    ['https://[::1]/v1', 'loopback'],
    ['https://[::ffff:127.0.0.1]/v1', 'loopback'],
    ['https://[::ffff:7f00:1]/v1', 'loopback'],
    ['https://[2002:7f00:1::]/v1', 'loopback'],
    ['https://[64:ff9b::7f00:1]/v1', 'loopback'],
    ['https://10.0.0.1/v1', 'private'],
    ['https://172.16.0.1/v1', 'private'],
    ['https://192.168.0.1/v1', 'private'],
    ['https://[fc00::1]/v1', 'private'],
    ['https://[fd00::1]/v1', 'private'],
    ['https://[64:ff9b::192.168.0.1]/v1', 'private'],
    ['https://[2002:a00:1::]/v1', 'private'],
    ['https://169.254.1.1/v1', 'link-local'],
    ['https://[fe80::1]/v1', 'link-local'],
    ['https://100.64.0.1/v1', 'cgnat'],
    ['https://0.0.0.0/v1', 'unspecified'],
    ['https://0/v1', 'unspecified'],
    ['https://[::]/v1', 'unspecified'],
    ['https://224.0.0.1/v1', 'multicast'],
    ['https://[ff02::1]/v1', 'multicast'],
    ['https://192.0.2.1/v1', 'reserved'],
    ['https://198.18.0.1/v1', 'reserved'],
    ['https://198.51.100.1/v1', 'reserved'],
    ['https://203.0.113.1/v1', 'reserved'],
    ['https://240.0.0.1/v1', 'reserved'],
    ['https://255.255.255.255/v1', 'reserved'],
    ['https://192.0.0.1/v1', 'reserved'],
    ['https://[2001:db8::1]/v1', 'reserved'],
    ['https://vllm.internal/v1', 'internal-name'],
    ['https://printer.local/v1', 'internal-name'],
    ['https://box.localdomain/v1', 'internal-name'],
    ['https://nas.home.arpa/v1', 'internal-name'],
  ])('should refuse the registry destination %s (%s)', (href, hostClass) => {
    expect(checkDestination(new URL(href), registry(href))).toEqual({
      allowed: false,
      reason: `destination host is ${hostClass}; allowed only for operator-configured endpoints`,
    })
  })

  it.each([
    'http://169.254.169.254/latest/meta-data/',
    'http://169.254.169.254./latest/meta-data/',
    'http://2852039166/latest/meta-data/',
    'http://0xa9fea9fe/latest/meta-data/',
    'http://[::ffff:169.254.169.254]/latest/meta-data/',
    'http://[fd00:ec2::254]/latest/meta-data/',
    'http://[64:ff9b::a9fe:a9fe]/',
    'http://169.254.170.2/v2/credentials',
    'http://100.100.100.200/latest/meta-data/',
    'http://168.63.129.16/machine',
    'http://metadata.google.internal/computeMetadata/v1/',
    'http://metadata/computeMetadata/v1/',
    'http://instance-data/latest/',
  ])('should refuse the metadata endpoint %s even when operator-configured', (href) => {
    const verdict = { allowed: false, reason: 'destination is a cloud metadata endpoint' }
    expect(checkDestination(new URL(href), operator(href))).toEqual(verdict)
    expect(checkDestination(new URL(href), registry(href)).allowed).toBe(false)
  })

  it.each<[string, string]>([
    ['https://evil.example/v1/chat/completions', 'https://api.openai.com'],
    ['https://api.openai.com.evil.example/v1', 'https://api.openai.com'],
    ['https://evil-api.openai.com/v1', 'https://api.openai.com'],
    ['https://api.openai.com./v1', 'https://api.openai.com'],
    ['https://api.openai.com:8443/v1', 'https://api.openai.com'],
    ['https://127.0.0.1:8000/v1', 'https://127.0.0.1:8001'],
    ['https://10.0.0.6:8000/v1', 'https://10.0.0.5:8000'],
    ['https://api.openai.com/v1', 'https://api.openai.com/'],
    ['https://api.openai.com/v1', 'https://api.openai.com/v1'],
    ['https://api.openai.com/v1', 'http://api.openai.com'],
    ['http://api.openai.com/v1', 'https://api.openai.com'],
    ['https://api.openai.com/v1', ''],
    ['https://api.openai.com/v1', 'null'],
  ])('should refuse %s when the allowed origin is %j', (href, allowedOrigin) => {
    const expected = {
      allowed: false,
      reason: 'destination origin differs from the configured provider origin',
    }
    expect(checkDestination(new URL(href), { operatorConfigured: true, allowedOrigin })).toEqual(
      expected,
    )
  })

  it.each([
    'https://user:secret-password@api.openai.com/v1',
    'https://user@api.openai.com/v1',
    'https://:secret-password@api.openai.com/v1',
    'http://sk-live-secret@127.0.0.1:8000/v1',
  ])('should refuse credentials in %s, even when operator-configured', (href) => {
    const expected = {
      allowed: false,
      reason: 'credentials in the destination URL are not allowed',
    }
    expect(checkDestination(new URL(href), operator(href))).toEqual(expected)
    expect(checkDestination(new URL(href), registry(href))).toMatchObject({ allowed: false })
  })

  it.each(['http://api.openai.com/v1', 'http://8.8.8.8/v1', 'http://localhost:8000/v1'])(
    'should refuse plain http to %s unless operator-configured',
    (href) => {
      expect(checkDestination(new URL(href), registry(href))).toEqual({
        allowed: false,
        reason: 'plain http is allowed only for operator-configured endpoints',
      })
      expect(checkDestination(new URL(href), operator(href))).toEqual({ allowed: true })
    },
  )

  it.each([
    'ftp://api.openai.com/v1',
    'ws://api.openai.com/v1',
    'wss://api.openai.com/v1',
    'file:///etc/passwd',
    'data:text/plain,hello',
    'javascript:alert(1)',
    'gopher://127.0.0.1:6379/_INFO',
    'blob:https://api.openai.com/0e3c',
  ])('should refuse the scheme of %s', (href) => {
    const url = new URL(href)
    const policy = { operatorConfigured: true, allowedOrigin: url.origin }
    expect(checkDestination(url, policy)).toEqual({
      allowed: false,
      reason: 'destination scheme must be https or http',
    })
  })

  it.each([
    ['https://user:hunter2@10.0.0.1/v1?api_key=sk-query-secret', true],
    ['https://10.0.0.1/v1?api_key=sk-query-secret', false],
    ['https://evil.example/v1?api_key=sk-query-secret', false],
    ['http://api.openai.com/v1?api_key=sk-query-secret#frag-secret', false],
    ['ftp://10.0.0.1/v1?api_key=sk-query-secret', true],
  ] as const)('should keep secrets of %s out of the reason', (href, operatorConfigured) => {
    const url = new URL(href)
    const verdict = checkDestination(url, {
      operatorConfigured,
      allowedOrigin: 'https://api.openai.com',
    })
    if (verdict.allowed) throw new Error('expected a refusal')
    for (const secret of [
      'sk-query-secret',
      'hunter2',
      'frag-secret',
      'evil.example',
      '10.0.0.1',
    ]) {
      expect(verdict.reason).not.toContain(secret)
    }
  })
})
