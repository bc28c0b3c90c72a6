import { describe, expect, it } from 'vitest'
import { localEmbedding } from './embedder'
import {
  bandCollisionProbability,
  bandKeys,
  DEFAULT_LSH_SEED,
  hyperplanes,
  mulberry32,
  sharesBand,
  signature,
  type Signature,
} from './lsh'

const DIMENSIONS = 256
const planes = hyperplanes(DIMENSIONS)

/** Seeded helpers: every figure below is the same on every run. */
const gaussian = (random: () => number): number => {
  let sum = 0
  for (let k = 0; k < 12; k++) sum += random()
  return sum - 6
}
const unitVector = (random: () => number): number[] => {
  const v = Array.from({ length: DIMENSIONS }, () => gaussian(random))
  const n = Math.hypot(...v)
  return v.map((x) => x / n)
}
/** Two unit vectors whose cosine is exactly `cos`. */
const pairAt = (random: () => number, cos: number): [number[], number[]] => {
  const u = unitVector(random)
  const w = unitVector(random)
  const along = w.reduce((sum, x, i) => sum + x * (u[i] ?? 0), 0)
  const orthogonal = w.map((x, i) => x - along * (u[i] ?? 0))
  const n = Math.hypot(...orthogonal)
  const sine = Math.sqrt(1 - cos * cos)
  return [u, u.map((x, i) => cos * x + (sine * (orthogonal[i] ?? 0)) / n)]
}
const bit = (sig: Signature, i: number): number => ((sig.words[i >>> 5] ?? 0) >>> (i & 31)) & 1

describe('mulberry32', () => {
  it('should reproduce the reference sequence for a seed', () => {
    const random = mulberry32(1)
    expect([random(), random(), random()]).toEqual([
      0.6270739405881613, 0.002735721180215478, 0.5274470399599522,
    ])
  })

  it('should stay in [0, 1)', () => {
    const random = mulberry32(DEFAULT_LSH_SEED)
    for (let i = 0; i < 10_000; i++) {
      const x = random()
      expect(x >= 0 && x < 1).toBe(true)
    }
  })
})

describe('hyperplanes', () => {
  it('should be the same for the same seed, dimension and count', () => {
    expect(Array.from(hyperplanes(DIMENSIONS).normals)).toEqual(Array.from(planes.normals))
    expect(Array.from(planes.normals.slice(0, 3))).toEqual([
      -0.0690004974603653, 0.5828974843025208, 0.8960415124893188,
    ])
  })

  it('should change with the seed and with the dimension', () => {
    const other = hyperplanes(DIMENSIONS, 64, DEFAULT_LSH_SEED + 1)
    expect(Array.from(other.normals.slice(0, 8))).not.toEqual(
      Array.from(planes.normals.slice(0, 8)),
    )
    const wider = hyperplanes(DIMENSIONS + 1)
    expect(Array.from(wider.normals.slice(0, 8))).not.toEqual(
      Array.from(planes.normals.slice(0, 8)),
    )
  })

  it('should draw coordinates with mean 0 and variance 1', () => {
    const { normals } = planes
    const mean = normals.reduce((sum, x) => sum + x, 0) / normals.length
    const variance = normals.reduce((sum, x) => sum + (x - mean) ** 2, 0) / normals.length
    expect(Math.abs(mean)).toBeLessThan(0.03)
    expect(variance).toBeGreaterThan(0.95)
    expect(variance).toBeLessThan(1.05)
  })

  it('should refuse a dimension or count that is not a positive integer', () => {
    expect(() => hyperplanes(0)).toThrow(/dimensions/)
    expect(() => hyperplanes(8, 0)).toThrow(/count/)
  })
})

describe('signature', () => {
  it('should give one bit per plane, packed in 32-bit words', () => {
    const sig = signature(localEmbedding('hello world'), planes)
    expect(sig.bits).toBe(64)
    expect(sig.words).toHaveLength(2)
  })

  it('should depend on the direction only, not the length', () => {
    const v = localEmbedding('turn on dark mode')
    const scaled = v.map((x) => x * 7)
    expect(Array.from(signature(scaled, planes).words)).toEqual(
      Array.from(signature(v, planes).words),
    )
  })

  it('should flip every bit for the opposite vector', () => {
    const v = localEmbedding('turn on dark mode')
    const a = signature(v, planes)
    const b = signature(
      v.map((x) => -x),
      planes,
    )
    for (let i = 0; i < 64; i++) expect(bit(a, i) + bit(b, i)).toBe(1)
  })

  it('should refuse a vector of another dimension', () => {
    expect(() => signature(new Float32Array(8), planes)).toThrow(/dimensions/)
  })
})

describe('bandKeys', () => {
  it('should cut 64 bits into 8 bands of 8, most significant bit first', () => {
    const sig: Signature = { bits: 64, words: new Uint32Array([0x0000_00ff, 0x8000_0000]) }
    expect(bandKeys(sig)).toEqual(['0:ff', '1:00', '2:00', '3:00', '4:00', '5:00', '6:00', '7:01'])
  })

  it('should name the band in the key, so equal values in different bands do not collide', () => {
    const sig: Signature = { bits: 64, words: new Uint32Array([0, 0]) }
    expect(new Set(bandKeys(sig)).size).toBe(8)
  })

  it('should support other shapes, padding a partial nibble', () => {
    const sig: Signature = { bits: 64, words: new Uint32Array([0xffff_ffff, 0xffff_ffff]) }
    expect(bandKeys(sig, 16)).toEqual(Array.from({ length: 16 }, (_, i) => `${i}:f`))
    const odd: Signature = { bits: 6, words: new Uint32Array([0b11_1111]) }
    expect(bandKeys(odd, 1)).toEqual(['0:fc'])
  })

  it('should refuse bands that do not divide the bits', () => {
    const sig: Signature = { bits: 64, words: new Uint32Array(2) }
    expect(() => bandKeys(sig, 7)).toThrow(/equal bands/)
  })

  it('should give stable keys for a text (they are stored)', () => {
    const keys = bandKeys(signature(localEmbedding('How do I reset my password?'), planes))
    expect(keys).toEqual(['0:5a', '1:65', '2:53', '3:43', '4:2b', '5:20', '6:a3', '7:ce'])
  })
})

describe('collision probability', () => {
  it('should match the documented table', () => {
    expect(bandCollisionProbability(0.99)).toBeGreaterThan(0.9999)
    expect(bandCollisionProbability(0.95)).toBeCloseTo(0.988, 3)
    expect(bandCollisionProbability(0.9)).toBeCloseTo(0.935, 3)
    expect(bandCollisionProbability(0.8)).toBeCloseTo(0.752, 3)
    expect(bandCollisionProbability(0.5)).toBeCloseTo(0.273, 3)
    expect(bandCollisionProbability(0)).toBeCloseTo(0.031, 3)
  })

  it('should agree with measured bit agreement (1 − θ/π) and band collisions', () => {
    const random = mulberry32(42)
    for (const cos of [0.95, 0.9, 0.5, 0]) {
      let agreeing = 0
      let colliding = 0
      const pairs = 600
      for (let t = 0; t < pairs; t++) {
        const [u, v] = pairAt(random, cos)
        const a = signature(u, planes)
        const b = signature(v, planes)
        for (let i = 0; i < 64; i++) if (bit(a, i) === bit(b, i)) agreeing++
        if (sharesBand(bandKeys(a), bandKeys(b))) colliding++
      }
      // Standard errors: ≤ 0.0026 per bit (38,400 bits), ≤ 0.019 per band (600 pairs).
      expect(agreeing / (pairs * 64)).toBeCloseTo(1 - Math.acos(cos) / Math.PI, 2)
      expect(Math.abs(colliding / pairs - bandCollisionProbability(cos))).toBeLessThan(0.05)
    }
  })

  it('should make near-identical texts collide far more often than unrelated ones', () => {
    const vocabulary = [
      'alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november',
      'oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu apple banana',
      'cherry grape lemon mango melon olive peach pear plum berry river mountain ocean forest',
      'desert valley island city market garden school station bridge castle tower harbor',
    ]
      .join(' ')
      .split(' ')
    const random = mulberry32(7)
    const word = (): string => vocabulary[Math.floor(random() * vocabulary.length)] ?? ''
    const sentence = (): string[] => Array.from({ length: 12 }, word)
    const keysOf = (words: string[]): string[] =>
      bandKeys(signature(localEmbedding(words.join(' ')), planes))
    let near = 0
    let unrelated = 0
    const trials = 300
    for (let t = 0; t < trials; t++) {
      const original = sentence()
      const edited = [...original]
      edited[Math.floor(random() * edited.length)] = word()
      const keys = keysOf(original)
      if (sharesBand(keys, keysOf(edited))) near++
      if (sharesBand(keys, keysOf(sentence()))) unrelated++
    }
    // Measured: 287/300 near-identical pairs, 24/300 unrelated pairs share a band.
    expect(near / trials).toBeGreaterThan(0.9)
    expect(unrelated / trials).toBeLessThan(0.15)
    expect(near).toBeGreaterThan(5 * unrelated)
  })
})
