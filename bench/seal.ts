/**
 * @module `npx node bench/seal.ts`: what the request log costs the serving isolate per request,
 * before and after its work moved to the Queue consumer.
 *
 * - before: `buildRecord` in the producer (assemble a streamed answer, scrub both bodies, price,
 *   HMAC the client IP, cut) and the record's JSON for the Queue;
 * - after: `sealFacts` (the raw facts' JSON, bounded to a message, sealed with XChaCha20-Poly1305);
 * - batched: what the producer does now — each request's facts encoded (`encodeFacts`), and a
 *   batch of 25 requests' facts sealed together (`sealBundles`), per request;
 * - and, for the consumer's account, `openFacts` + `buildRecord` per message.
 *
 * Typical messages: a small chat request and answer; two 48 KiB bodies (request and a non-streamed
 * answer); a 48 KiB request with a 64 KiB streamed answer (the tap's whole capture). Bodies are
 * prose with some PII in them (an email, a phone, a card every few hundred words), so the scrubber
 * finds what it would in traffic. Same V8 as workerd; run on an idle machine. Prints µs per
 * message (median of rounds) and the message sizes.
 */
import { loadLogModules } from '../scripts/logs-replay.ts'

// The log modules import each other without extensions: the replay's loader resolves them.
await loadLogModules()
const { sealFacts, openFacts, encodeFacts, sealBundles, payloadLimit, MESSAGE_LIMIT } =
  await import('../src/logging/facts.ts')
const { buildRecord, ipHashKey } = await import('../src/logging/record.ts')
const { parseLogKeys } = await import('../src/logging/seal.ts')
type RequestFacts = import('../src/logging/record.ts').RequestFacts

const KEYS = parseLogKeys(
  JSON.stringify({ current: 'bench', keys: { bench: Buffer.alloc(32, 42).toString('base64') } }),
)
const IP_KEY = await ipHashKey('bench-ip-hash-key-0123456789')

const WORDS = (
  'the of and to in is that for it as was with be by on not he this are or his from at which ' +
  'but have an they you were her she there been one all we their has would when if so no will ' +
  'model token answer request gateway provider stream latency cache routing quota prompt'
).split(' ')

/** Prose of about `bytes` characters, deterministic, with some PII every ~300 words. */
const prose = (bytes: number, seed = 1): string => {
  const pii = ['jane.doe@example.com', '+1 (415) 555-2671', '4111 1111 1111 1111', '536-22-8174']
  let state = seed
  const out: string[] = []
  let length = 0
  for (let i = 0; length < bytes; i++) {
    state = (state * 1103515245 + 12345) % 2 ** 31
    const word = i % 300 === 150 ? (pii[i % pii.length] ?? '') : (WORDS[state % WORDS.length] ?? '')
    out.push(word)
    length += word.length + 1
  }
  return out.join(' ').slice(0, bytes)
}

const chatRequest = (bytes: number): string =>
  JSON.stringify({
    model: 'gpt-4o-mini',
    messages: [
      { role: 'system', content: 'You are a helpful assistant.' },
      { role: 'user', content: prose(bytes - 120, 7) },
    ],
  })

const chatAnswer = (bytes: number): string =>
  JSON.stringify({
    id: 'chatcmpl-1',
    object: 'chat.completion',
    model: 'gpt-4o-mini',
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: prose(bytes - 250, 11) },
        finish_reason: 'stop',
      },
    ],
    usage: { prompt_tokens: 12000, completion_tokens: 11000, total_tokens: 23000 },
  })

/** A streamed answer as the client got it, cut at `bytes` as the tap captures it. */
const chatStream = (bytes: number): string => {
  const words = prose(bytes, 13).split(' ')
  let sse = ''
  for (const [i, word] of words.entries()) {
    const chunk = {
      id: 'chatcmpl-1',
      object: 'chat.completion.chunk',
      created: 1_790_000_000,
      model: 'gpt-4o-mini',
      choices: [
        {
          index: 0,
          delta: i === 0 ? { role: 'assistant', content: word } : { content: ` ${word}` },
          finish_reason: null,
        },
      ],
    }
    sse += `data: ${JSON.stringify(chunk)}\n\n`
    if (sse.length >= bytes) break
  }
  return sse.slice(0, bytes)
}

const facts = (requestBody: string, answer: string, stream: boolean): RequestFacts => ({
  requestId: 'req_0123456789abcdef',
  clientRequestId: undefined,
  startedAt: Date.now() - 1_500,
  endedAt: Date.now(),
  orgId: 'org_bench',
  keyId: 'key_bench',
  endpoint: 'chat',
  provider: 'openai',
  modelRequested: 'gpt-4o-mini',
  modelServed: 'gpt-4o-mini',
  status: 200,
  errorCode: '',
  stream,
  upstreamStartedAt: Date.now() - 1_400,
  upstreamHeadersAt: Date.now() - 1_000,
  attempts: 1,
  usage: {
    promptTokens: 12000,
    completionTokens: 11000,
    totalTokens: 23000,
    cachedTokens: 0,
    reasoningTokens: 0,
  },
  userAgent: 'OpenAI/JS 5.0.0',
  clientIp: '203.0.113.7',
  requestBody,
  response: { text: answer, truncated: false },
  bodies: true,
  end: 'done',
  cacheStatus: 'MISS',
  firewallVerdict: 'NONE',
})

const CASES: readonly [string, RequestFacts][] = [
  ['small (≈300 B request, ≈400 B answer)', facts(chatRequest(300), chatAnswer(400), false)],
  ['2 × 48 KiB (request, answer)', facts(chatRequest(48 * 1024), chatAnswer(48 * 1024), false)],
  [
    '48 KiB request + 64 KiB streamed answer',
    facts(chatRequest(48 * 1024), chatStream(64 * 1024), true),
  ],
]

/** Median µs per call of `run` over `rounds` rounds of `per` calls, after a warm-up. */
const time = async (run: () => unknown, per: number, rounds = 15): Promise<number> => {
  for (let i = 0; i < per * 3; i++) await run()
  const samples: number[] = []
  for (let r = 0; r < rounds; r++) {
    const start = process.hrtime.bigint()
    for (let i = 0; i < per; i++) await run()
    samples.push(Number(process.hrtime.bigint() - start) / 1000 / per)
  }
  samples.sort((a, b) => a - b)
  return samples[Math.floor(samples.length / 2)] ?? Number.NaN
}

const format = (us: number): string => (us >= 100 ? us.toFixed(0) : us.toFixed(1)).padStart(7)

console.log(
  `${'message'.padEnd(42)} ${'before µs'.padStart(9)} ${'after µs'.padStart(9)} ${'batched µs'.padStart(10)} ${'saved'.padStart(7)} ${'consumer µs'.padStart(11)} ${'sealed B'.padStart(9)} ${'record JSON B'.padStart(13)}`,
)
for (const [name, one] of CASES) {
  const per = one.requestBody.length > 10_000 ? 40 : 2_000
  const before = await time(async () => JSON.stringify(await buildRecord(one, IP_KEY)), per)
  const after = await time(() => sealFacts(KEYS, one), per)
  const batch = 25
  const batched =
    (await time(
      () => {
        const payloads: Uint8Array[] = []
        for (let i = 0; i < batch; i++) payloads.push(encodeFacts(one, payloadLimit(KEYS)))
        return sealBundles(KEYS, payloads)
      },
      Math.max(2, Math.round(per / batch)),
    )) / batch
  const sealed = sealFacts(KEYS, one)
  const consumer = await time(() => buildRecord(openFacts(KEYS, sealed), IP_KEY), per)
  const recordBytes = Buffer.byteLength(JSON.stringify(await buildRecord(one, IP_KEY)))
  if (sealed.byteLength > MESSAGE_LIMIT) throw new Error(`${name}: ${String(sealed.byteLength)} B`)
  console.log(
    `${name.padEnd(42)} ${format(before).padStart(9)} ${format(after).padStart(9)} ${format(batched).padStart(10)} ${`${((1 - batched / before) * 100).toFixed(0)}%`.padStart(7)} ${format(consumer).padStart(11)} ${String(sealed.byteLength).padStart(9)} ${String(recordBytes).padStart(13)}`,
  )
}
