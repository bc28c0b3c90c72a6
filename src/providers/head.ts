/**
 * @module A bounded copy of the start of an answer, taken as the answer passes to the client, for
 * the answer's taps (the request log keeps its first 64 KiB, the cache a complete answer of up to
 * 1 MiB).
 *
 * The client's bytes are not delayed or buffered: each chunk is copied only while the copy is
 * under `limit` bytes, so a tap costs at most `limit` bytes of memory per request whatever the
 * answer's size (a 16 MB answer is seen truncated, and flagged as such).
 */
import type { Captured } from '../types'

/** Takes chunks as they pass, copying them while the copy is under `limit` bytes. */
export type HeadSink = {
  /** The most bytes kept. */
  readonly limit: number
  /** Sees one chunk as it goes to the client (the chunk is only valid during the call). */
  readonly take: (chunk: Uint8Array) => void
  /** The first `limit` bytes taken so far (at most the sink's), decoded. */
  readonly head: (limit: number) => Captured
}

export const headSink = (limit: number): HeadSink => {
  const chunks: Uint8Array[] = []
  let kept = 0
  let total = 0
  return {
    limit,
    take(chunk) {
      total += chunk.byteLength
      if (kept >= limit) return
      const copy = chunk.slice(0, limit - kept)
      chunks.push(copy)
      kept += copy.byteLength
    },
    head(wanted) {
      const decoder = new TextDecoder()
      let text = ''
      let left = Math.min(wanted, kept)
      for (const chunk of chunks) {
        if (left <= 0) break
        const part = chunk.byteLength <= left ? chunk : chunk.subarray(0, left)
        text += decoder.decode(part, { stream: true })
        left -= part.byteLength
      }
      return { text: text + decoder.decode(), truncated: total > wanted }
    },
  }
}
