/**
 * @module Rows of `floopy.request_logs` for the ClickHouse tests (`test/e2e/clickhouse.test.ts`,
 * `test/e2e/feedback-clickhouse.test.ts`): a served chat request of an organisation, a day ago,
 * as the consumer inserts it (JSONEachRow). Each test overrides what it is about.
 */
import { randomUUID } from 'node:crypto'
import type { LogRecord } from '../../src/logging/record.ts'

export const DAY_MS = 86_400_000

/** `YYYY-MM-DD hh:mm:ss.mmm` in UTC, as the gateway writes `timestamp`. */
export const stamp = (at: Date): string => at.toISOString().replace('T', ' ').slice(0, 23)

/** Noon (UTC) `days` ago: a fixed point inside the TTL that stays on one day. */
export const noonDaysAgo = (days: number): Date => {
  const at = new Date(Date.now() - days * DAY_MS)
  at.setUTCHours(12, 0, 0, 0)
  return at
}

export const newOrg = (): string => `org_${randomUUID()}`

export const logRow = (org: string, overrides: Partial<LogRecord> = {}): LogRecord => ({
  request_id: `req_${randomUUID()}`,
  timestamp: stamp(noonDaysAgo(1)),
  org_id: org,
  key_id: 'key_1',
  endpoint: 'chat',
  provider: 'openai',
  model_requested: 'gpt-4o-mini',
  model_served: 'gpt-4o-mini-2024-07-18',
  status: 200,
  error_code: '',
  stream: false,
  latency_ms: 812.5,
  ttfb_ms: 640.25,
  upstream_latency_ms: 600,
  attempts: 1,
  prompt_tokens: 10,
  completion_tokens: 20,
  cached_tokens: 0,
  reasoning_tokens: 0,
  cost_usd: '0.000015',
  price_version: '2025-01',
  cache_status: 'MISS',
  firewall_verdict: 'NONE',
  prompt_id: '',
  prompt_version: 0,
  user_agent: 'openai-node/5.0.0',
  client_ip_hash: 'ab'.repeat(32),
  request_body: '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}',
  response_body: '{"id":"chatcmpl-1","object":"chat.completion"}',
  metadata: {},
  ...overrides,
})
