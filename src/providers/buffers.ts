/**
 * @module Read buffers kept from one answer for the next. A long answer is read into one buffer
 * that each read reuses (`relay.ts`); made anew for every answer, that buffer is garbage once the
 * answer ends, and V8 frees an `ArrayBuffer`'s memory only when it collects the object — which a
 * relay that leaves the bytes to the runtime seldom makes it do. Ten 16 MB streams then left ten
 * sets of read buffers in workerd's memory (bench/REPORT.md, "read buffers kept"). A buffer given
 * back is zeroed before another answer may take it, so no answer's bytes outlive it.
 */

/** Spare buffers kept per size: enough for the answers that end together, few enough to idle on. */
const SPARE_PER_SIZE = 4
/** Larger buffers are not kept. */
const LARGEST_KEPT = 256 * 1024

const spares = new Map<number, ArrayBuffer[]>()

/** A buffer of `size` bytes, a spare one when there is one (zeroed when it was given back). */
export const takeBuffer = (size: number): ArrayBuffer =>
  spares.get(size)?.pop() ?? new ArrayBuffer(size)

/**
 * Gives `buffer` back for another answer's reads. Only a buffer nothing reads into or out of any
 * more may be given back: no read in flight, and its bytes already handed on.
 */
export const giveBuffer = (buffer: ArrayBuffer | undefined): void => {
  const size = buffer?.byteLength ?? 0
  // A detached buffer (a read took it) has no bytes left to keep.
  if (buffer === undefined || size === 0 || size > LARGEST_KEPT) return
  let kept = spares.get(size)
  if (kept === undefined) {
    kept = []
    spares.set(size, kept)
  }
  if (kept.length >= SPARE_PER_SIZE || kept.includes(buffer)) return
  new Uint8Array(buffer).fill(0)
  kept.push(buffer)
}

/** How many spare buffers of `size` are kept (tests). */
export const sparesOf = (size: number): number => spares.get(size)?.length ?? 0
