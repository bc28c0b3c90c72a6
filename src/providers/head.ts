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

/**
 * Decodes every head: `head` streams its pieces through it (a piece may end inside a character)
 * and flushes it at the end, without yielding in between, so it is clean for the next call.
 */
const decoder = new TextDecoder()

/** Takes chunks as they pass, copying them while the copy is under `limit` bytes. */
export type HeadSink = {
  /** The most bytes kept. */
  readonly limit: number
  /** Sees one chunk as it goes to the client (the chunk is only valid during the call). */
  readonly take: (chunk: Uint8Array) => void
  /**
   * Sees a whole answer that no one changes afterwards (a JSON body read whole): its head is kept
   * as a view of it, not copied.
   */
  readonly keep: (answer: Uint8Array) => void
  /** The first `limit` bytes taken so far (at most the sink's), decoded. */
  readonly head: (limit: number) => Captured
}

export const headSink = (limit: number): HeadSink => {
  const chunks: Uint8Array[] = []
  let kept = 0
  let total = 0
  /** Counts `bytes`, and keeps them while under the limit: a copy, or a view when `copy` is off. */
  const add = (bytes: Uint8Array, copy: boolean): void => {
    total += bytes.byteLength
    if (kept >= limit) return
    const piece = copy ? bytes.slice(0, limit - kept) : bytes.subarray(0, limit - kept)
    chunks.push(piece)
    kept += piece.byteLength
  }
  return {
    limit,
    take(chunk) {
      add(chunk, true)
    },
    keep(answer) {
      add(answer, false)
    },
    head(wanted) {
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
