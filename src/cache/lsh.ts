/**
 * @module Random-hyperplane LSH (Charikar, "Similarity estimation techniques from rounding
 * algorithms", STOC 2002) for the bucketed tier: a vector's signature is one bit per hyperplane,
 * the side of the plane it lies on; the signature is cut into bands, and each band value names one
 * Redis set within the tenant and scope. Pure.
 *
 * Collision odds: two vectors at angle θ (cos θ = their cosine) fall on the same side of a random
 * plane with probability p = 1 − θ/π. A band of r bits matches with probability p^r, and at least
 * one of b bands with 1 − (1 − p^r)^b. With the default 64 bits in 8 bands of 8:
 *
 * | cosine | p per bit | one band | any of 8 bands |
 * |-------:|----------:|---------:|---------------:|
 * | 0.99   | 0.955     | 0.69     | > 0.9999       |
 * | 0.95   | 0.899     | 0.43     | 0.988          |
 * | 0.90   | 0.856     | 0.29     | 0.935          |
 * | 0.80   | 0.795     | 0.16     | 0.75           |
 * | 0.50   | 0.667     | 0.039    | 0.27           |
 * | 0.00   | 0.500     | 0.0039   | 0.031          |
 *
 * So at the bucketed tier's default threshold (0.90) a stored neighbour is among the candidates
 * about 93 % of the time, at 0.95 about 99 %, and an unrelated prompt about 3 % of the time, to be
 * dropped by the exact cosine re-rank. More bands raise recall and the candidate count; longer
 * bands lower both. {@link bandCollisionProbability} computes the table for other shapes.
 *
 * Determinism: signatures are stored, so the planes must be the same on every deploy and every
 * engine. They come from a seeded PRNG (mulberry32) and a Gaussian approximated by the sum of 12
 * uniforms minus 6 (Irwin–Hall), which takes integer arithmetic and exact additions only, with no
 * `Math.log` or `Math.cos`, whose last bits may differ between engines. Changing the seed, the
 * dimension or the bit count changes every signature: treat it as a new index.
 */

/** Seed of the default planes. Part of the stored index's identity: see the module doc. */
export const DEFAULT_LSH_SEED = 0x5eed_cafe

/** The hyperplanes' normals, `count` vectors of `dimensions` floats, row after row. */
export type Hyperplanes = {
  readonly count: number
  readonly dimensions: number
  readonly seed: number
  readonly normals: Float32Array
}

/** A signature: `bits` bits, bit i in `words[i >>> 5]` at position `i & 31`. */
export type Signature = { readonly bits: number; readonly words: Uint32Array }

/**
 * mulberry32 (Tommy Ettinger, public domain): a 32-bit-state PRNG, uniform in [0, 1). Enough for
 * drawing planes; not for anything secret.
 */
export const mulberry32 = (seed: number): (() => number) => {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/**
 * `count` hyperplanes for `dimensions`-long vectors, drawn from `seed` and the dimension (so two
 * indexes of different dimension never share planes by accident).
 */
export const hyperplanes = (
  dimensions: number,
  count = 64,
  seed = DEFAULT_LSH_SEED,
): Hyperplanes => {
  if (!Number.isInteger(dimensions) || dimensions < 1) {
    throw new Error(`hyperplanes: dimensions must be a positive integer, got ${dimensions}`)
  }
  if (!Number.isInteger(count) || count < 1) {
    throw new Error(`hyperplanes: count must be a positive integer, got ${count}`)
  }
  const random = mulberry32(seed ^ Math.imul(dimensions, 0x9e3779b1))
  const normals = new Float32Array(count * dimensions)
  for (let i = 0; i < normals.length; i++) {
    let sum = 0
    for (let k = 0; k < 12; k++) sum += random()
    normals[i] = sum - 6
  }
  return { count, dimensions, seed, normals }
}

/** One bit per plane: 1 when `vector` lies on the side its normal points to. */
export const signature = (vector: ArrayLike<number>, planes: Hyperplanes): Signature => {
  if (vector.length !== planes.dimensions) {
    throw new Error(
      `signature: vector has ${vector.length} dimensions, planes expect ${planes.dimensions}`,
    )
  }
  const words = new Uint32Array(Math.ceil(planes.count / 32))
  for (let p = 0; p < planes.count; p++) {
    const offset = p * planes.dimensions
    let dot = 0
    for (let d = 0; d < planes.dimensions; d++) {
      dot += (vector[d] ?? 0) * (planes.normals[offset + d] ?? 0)
    }
    if (dot > 0) words[p >>> 5] = (words[p >>> 5] ?? 0) | (1 << (p & 31))
  }
  return { bits: planes.count, words }
}

const bitAt = (sig: Signature, i: number): number => ((sig.words[i >>> 5] ?? 0) >>> (i & 31)) & 1

/**
 * One key per band: `<band>:<hex value>`, e.g. `3:a7` for band 3 of 8 bits. The caller prefixes
 * the tenant and scope; two signatures are candidates when they share any key.
 */
export const bandKeys = (sig: Signature, bands = 8): string[] => {
  if (!Number.isInteger(bands) || bands < 1 || sig.bits % bands !== 0) {
    throw new Error(`bandKeys: ${sig.bits} bits do not split into ${bands} equal bands`)
  }
  const width = sig.bits / bands
  const keys: string[] = []
  for (let band = 0; band < bands; band++) {
    let hex = ''
    // Most significant nibble first; a partial nibble at the band's end is padded with zeros.
    for (let start = 0; start < width; start += 4) {
      let nibble = 0
      for (let k = 0; k < 4; k++) {
        const bit = start + k < width ? bitAt(sig, band * width + start + k) : 0
        nibble |= bit << (3 - k)
      }
      hex += nibble.toString(16)
    }
    keys.push(`${band}:${hex}`)
  }
  return keys
}

/** Whether two band-key lists (from one `bandKeys` shape) share a key. */
export const sharesBand = (a: readonly string[], b: readonly string[]): boolean => {
  const inA = new Set(a)
  return b.some((key) => inA.has(key))
}

/** Probability that two vectors with this cosine share at least one band (module doc). */
export const bandCollisionProbability = (cos: number, bits = 64, bands = 8): number => {
  const perBit = 1 - Math.acos(Math.min(1, Math.max(-1, cos))) / Math.PI
  return 1 - (1 - perBit ** (bits / bands)) ** bands
}
