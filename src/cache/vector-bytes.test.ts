/**
 * Vectors as text for Redis: little-endian float32 bytes in base64, decoded back to the same
 * float32 values; text that is not base64 or not a whole number of float32s decodes to nothing.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { decodeVector, encodeVector } from './vector-bytes'

describe('encodeVector and decodeVector', () => {
  it('should write little-endian float32 bytes as base64', () => {
    // 1.0 is 0x3f800000: bytes 00 00 80 3f, little end first.
    expect(encodeVector(Float32Array.of(1))).toBe('AACAPw==')
    expect(encodeVector(Float32Array.of(-2, 0.5))).toBe('AAAAwAAAAD8=')
    expect(encodeVector(new Float32Array(0))).toBe('')
  })

  it('should read back the bytes it wrote', () => {
    expect(decodeVector('AACAPw==')).toEqual(Float32Array.of(1))
    expect(decodeVector('')).toEqual(new Float32Array(0))
  })

  it('should round-trip special values bit for bit', () => {
    const special = Float32Array.of(0, -0, Infinity, -Infinity, NaN, 1.4e-45, 3.4028234e38)
    const back = decodeVector(encodeVector(special))
    expect(back).toBeDefined()
    expect(new Uint32Array((back ?? new Float32Array(0)).buffer)).toEqual(
      new Uint32Array(special.buffer),
    )
  })

  it('should round-trip any float32 vector', () => {
    fc.assert(
      fc.property(fc.float32Array({ maxLength: 300 }), (vector) => {
        const back = decodeVector(encodeVector(vector))
        expect(back?.length).toBe(vector.length)
        expect(new Uint32Array((back ?? new Float32Array(0)).buffer)).toEqual(
          new Uint32Array(vector.buffer, vector.byteOffset, vector.length),
        )
      }),
      { seed: 20_260_310, numRuns: 200 },
    )
  })

  it('should round-trip a 1536-dimension embedding', () => {
    const vector = Float32Array.from({ length: 1536 }, (_, i) => Math.sin(i) / 40)
    expect(decodeVector(encodeVector(vector))).toEqual(vector)
  })

  it.each([
    ['a byte count that is not a multiple of 4', btoa('abc')],
    ['five bytes', btoa('abcde')],
    ['text that is not base64', 'not base64!'],
    ['base64 with a bad length', 'AAA'],
  ])('should decode %s to nothing', (_, text) => {
    expect(decodeVector(text)).toBeUndefined()
  })
})
