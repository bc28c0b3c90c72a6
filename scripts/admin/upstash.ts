/**
 * @module The Upstash Redis the gateways share, as the admin CLI reaches it: from
 * `UPSTASH_REDIS_REST_URL` and `UPSTASH_REDIS_REST_TOKEN`, with two quick retries and a time limit
 * per request. Replies are not deserialised: keys and values stay the strings Redis holds.
 */
import { Redis } from '@upstash/redis'

const TIMEOUT_MS = 5_000

/** The variables, as warnings name them. */
export const UPSTASH_VARS = 'UPSTASH_REDIS_REST_URL / UPSTASH_REDIS_REST_TOKEN'

/** The client, or `undefined` when either variable is unset or empty. */
export const upstashFromEnv = (env: NodeJS.ProcessEnv): Redis | undefined => {
  const url = env.UPSTASH_REDIS_REST_URL
  const token = env.UPSTASH_REDIS_REST_TOKEN
  if (url === undefined || url === '' || token === undefined || token === '') return undefined
  return new Redis({
    url,
    token,
    enableTelemetry: false,
    enableAutoPipelining: false,
    automaticDeserialization: false,
    retry: { retries: 2, backoff: (attempt) => 100 * 2 ** attempt },
    signal: () => AbortSignal.timeout(TIMEOUT_MS),
  })
}

/** The first line of a failure's message, for a one-line error. */
export const reasonOf = (error: unknown): string =>
  (error instanceof Error ? error.message : String(error)).split('\n', 1)[0] ?? ''
