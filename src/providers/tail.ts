/**
 * @module The last bytes of a body read in pieces: OpenAI-compatible providers put `usage` at the
 * end of an answer, so a tap that lets the body go to the client natively keeps only its tail.
 */

/** A ring over the last `size` bytes of everything `keep` was given. */
export type Tail = {
  /** Takes `bytes` in (copied: they may be a reused read buffer). */
  keep(bytes: Uint8Array): void
  /** The last `size` bytes, in order (fewer when less came); `cut` when more came before them. */
  last(): { bytes: Uint8Array; cut: boolean }
}

export const tail = (size: number): Tail => {
  const ring = new Uint8Array(size)
  let total = 0
  return {
    keep(bytes) {
      // Byte k of the body lives at k % size.
      let from = Math.max(0, bytes.byteLength - size)
      let at = (total + from) % size
      while (from < bytes.byteLength) {
        const n = Math.min(bytes.byteLength - from, size - at)
        ring.set(bytes.subarray(from, from + n), at)
        from += n
        at = (at + n) % size
      }
      total += bytes.byteLength
    },
    last() {
      if (total <= size) return { bytes: ring.subarray(0, total), cut: false }
      const at = total % size
      const out = new Uint8Array(size)
      out.set(ring.subarray(at))
      out.set(ring.subarray(0, at), size - at)
      return { bytes: out, cut: true }
    },
  }
}
