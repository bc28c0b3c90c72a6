/**
 * @module Header hygiene at the provider boundary: which client request headers may travel on to a
 * provider, and which provider response headers may travel back to the client.
 *
 * Requests are passed through minus a deny-list, so SDK headers (`openai-organization`,
 * `x-stainless-*`, `anthropic-version`, …) and anything a provider adds tomorrow keep working.
 * Responses are the opposite: only an allow-list is relayed, because everything else a provider
 * sends (cookies, its own rate-limit counters, server details) either leaks or contradicts what the
 * gateway itself reports.
 *
 * Order matters: sanitise first, then set the provider's credentials on the result. Sanitising
 * afterwards would delete the `authorization` / `x-api-key` / `x-goog-api-key` just injected.
 */

/** Request headers never forwarded, by (lower-case) name. */
const STRIPPED_REQUEST_HEADERS: ReadonlySet<string> = new Set([
  // The client's gateway key, and credentials in other providers' styles that a client may send.
  'authorization',
  'proxy-authorization',
  'cookie',
  'x-api-key',
  'api-key',
  'x-goog-api-key',
  // The end user's address (RFC 7239 and its de-facto predecessors).
  'forwarded',
  'x-real-ip',
  'true-client-ip',
  'x-client-ip',
  'x-cluster-client-ip',
  'fastly-client-ip',
  // Hop-by-hop. RFC 9110 §7.6.1 names proxy-connection, keep-alive, te, transfer-encoding and
  // upgrade as fields an intermediary removes even when `Connection` does not list them.
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  // Re-derived by the runtime for the outbound call: target host, re-measured body, its own
  // content-coding negotiation.
  'host',
  'content-length',
  'accept-encoding',
])

/**
 * Request header families never forwarded: proxy metadata (`x-forwarded-for`, `-host`, `-proto`,
 * …), Cloudflare's client details (`cf-connecting-ip`, `cf-ipcountry`, …) and the gateway's own
 * control headers.
 */
const STRIPPED_REQUEST_PREFIXES: readonly string[] = ['x-forwarded-', 'cf-', 'floopy-']

/** Provider response headers relayed to the client unchanged. */
const RELAYED_RESPONSE_HEADERS: readonly string[] = [
  'content-type',
  'retry-after',
  'retry-after-ms',
  'openai-processing-ms',
  'openai-version',
]

/** Where providers put their request id (OpenAI-style first, then Anthropic). */
const UPSTREAM_REQUEST_ID_HEADERS: readonly string[] = ['x-request-id', 'request-id']

/** The name the provider's request id is relayed under, so it never collides with ours. */
export const UPSTREAM_REQUEST_ID_HEADER = 'floopy-upstream-request-id'

const NO_OPTIONS: ReadonlySet<string> = new Set()

/** RFC 9110 §7.6.1: `Connection` lists further headers that are hop-by-hop for this message. */
function connectionOptions(value: string | null): ReadonlySet<string> {
  if (value === null) return NO_OPTIONS
  const options = new Set<string>()
  for (const option of value.split(',')) {
    const name = option.trim().toLowerCase()
    if (name !== '') options.add(name)
  }
  return options
}

function isStrippedRequestHeader(name: string): boolean {
  return (
    STRIPPED_REQUEST_HEADERS.has(name) ||
    STRIPPED_REQUEST_PREFIXES.some((prefix) => name.startsWith(prefix))
  )
}

/**
 * Returns a new `Headers` with what the client sent, minus credentials, client-address and proxy
 * headers, hop-by-hop headers (including those the `Connection` header names), headers the runtime
 * recomputes, and the gateway's own `floopy-*` controls. Set provider auth on the result.
 */
export function sanitizeRequestHeaders(incoming: Headers): Headers {
  const nominated = connectionOptions(incoming.get('connection'))
  const outgoing = new Headers()
  // Iteration yields lower-case names (Fetch standard), so plain comparisons are case-insensitive.
  for (const [name, value] of incoming) {
    if (!isStrippedRequestHeader(name) && !nominated.has(name)) outgoing.append(name, value)
  }
  return outgoing
}

/**
 * The provider response headers that are safe and useful to relay, with the provider's request id
 * renamed to `floopy-upstream-request-id`: a new record (lower-case names), to which the caller
 * adds its own before the response's one `Headers` is made from it by `new Response`.
 */
export function sanitizeResponseHeaders(upstream: Headers): Record<string, string> {
  const relayed: Record<string, string> = {}
  for (const name of RELAYED_RESPONSE_HEADERS) {
    const value = upstream.get(name)
    if (value !== null) relayed[name] = value
  }
  for (const name of UPSTREAM_REQUEST_ID_HEADERS) {
    const value = upstream.get(name)
    if (value !== null) {
      relayed[UPSTREAM_REQUEST_ID_HEADER] = value
      break
    }
  }
  return relayed
}
