/**
 * @module The request facts the request log's unit tests start from (`logging/record.test.ts`,
 * `logging/facts.test.ts`): a served, non-streamed chat request whose bodies carry PII to scrub.
 * Each test overrides what it is about.
 */
import type { RequestFacts } from '../../src/logging/record'

export const requestFacts = (overrides: Partial<RequestFacts> = {}): RequestFacts => ({
  requestId: 'req-1',
  clientRequestId: undefined,
  startedAt: Date.UTC(2026, 10, 22, 10, 0, 0, 123),
  endedAt: Date.UTC(2026, 10, 22, 10, 0, 1, 623),
  orgId: 'org_1',
  keyId: 'key_1',
  endpoint: 'chat',
  provider: 'openai',
  modelRequested: 'openai/gpt-4o-mini',
  modelServed: 'gpt-4o-mini',
  status: 200,
  errorCode: '',
  stream: false,
  upstreamStartedAt: Date.UTC(2026, 10, 22, 10, 0, 0, 130),
  upstreamHeadersAt: Date.UTC(2026, 10, 22, 10, 0, 0, 530),
  attempts: 1,
  usage: {
    promptTokens: 1000,
    completionTokens: 500,
    totalTokens: 1500,
    cachedTokens: 0,
    reasoningTokens: 0,
  },
  userAgent: 'OpenAI/JS 7.0',
  clientIp: '203.0.113.7',
  requestBody: JSON.stringify({
    model: 'openai/gpt-4o-mini',
    messages: [
      {
        role: 'user',
        content: 'Mail me at jane.doe@example.com, key sk-proj-abcdefghijklmnopqrstuvwx',
      },
    ],
  }),
  response: {
    text: JSON.stringify({ choices: [{ message: { content: 'Call +1 (415) 555-2671' } }] }),
    truncated: false,
  },
  bodies: true,
  end: 'done',
  ...overrides,
})

/** Small facts of a request the Queue carries, for the consumer's and the messages' tests. */
export const queuedFacts = (requestId: string, content: string): RequestFacts =>
  requestFacts({
    requestId,
    startedAt: Date.UTC(2026, 10, 22, 10, 0, 0),
    endedAt: Date.UTC(2026, 10, 22, 10, 0, 2),
    modelRequested: 'gpt-4o-mini',
    upstreamStartedAt: undefined,
    upstreamHeadersAt: undefined,
    usage: {
      promptTokens: 9,
      completionTokens: 3,
      totalTokens: 12,
      cachedTokens: 0,
      reasoningTokens: 0,
    },
    userAgent: 'test',
    clientIp: '198.51.100.4',
    requestBody: JSON.stringify({ messages: [{ role: 'user', content }] }),
    response: { text: '{"choices":[]}', truncated: false },
  })
