/**
 * @module The order in which the benches' interleaved series visit their targets. A target's place
 * in a fixed cycle moved its figures: in `node bench/ab.ts`, two runs of the same targets in
 * opposite orders measured the highest CPU per request on whichever gateway ran right after the
 * reference proxy (by up to 0.13 ms), and in the time-to-first-byte series the request right after
 * the reference's was the slower of two gateways in all six rounds of one run and in three of four
 * with the order reversed. So each round or cycle starts one target later, and every target takes
 * every place in turn.
 */

/** `items` starting at index `by` (modulo their count), wrapping around. */
export const rotated = <T>(items: readonly T[], by: number): T[] => {
  const shift = items.length === 0 ? 0 : by % items.length
  return [...items.slice(shift), ...items.slice(0, shift)]
}
