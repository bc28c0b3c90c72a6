/**
 * @module What the fake providers record of each request they receive — the wire contract between
 * `fake-providers.ts` (Node) and the workerd tests that read it over `GET /__fake/requests`.
 */
export type RecordedRequest = {
  provider: string
  method: string
  /** Path and query string exactly as received, including the provider prefix. */
  path: string
  /** Every request header, names lower-cased (repeated headers joined with `, `). */
  headers: Record<string, string>
  /** Parsed JSON body; the raw text when it is not JSON; `undefined` when empty. */
  body: unknown
  tag: string | undefined
  violations: string[]
}
