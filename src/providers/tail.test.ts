/** The tail ring: the last bytes in order, however the pieces fell, and whether more came first. */
import { describe, expect, it } from 'vitest'
import { tail } from './tail'

const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values)

describe('tail', () => {
  it('should give back all of a body shorter than the ring, uncut', () => {
    const kept = tail(8)
    kept.keep(bytes(1, 2, 3))
    kept.keep(bytes(4))
    expect(kept.last()).toEqual({ bytes: bytes(1, 2, 3, 4), cut: false })
  })

  it('should keep the last bytes in order across pieces that wrap the ring', () => {
    const kept = tail(4)
    for (const piece of [bytes(1, 2, 3), bytes(4, 5), bytes(6), bytes(7, 8, 9)]) kept.keep(piece)
    expect(kept.last()).toEqual({ bytes: bytes(6, 7, 8, 9), cut: true })
  })

  it('should keep the end of a piece longer than the ring', () => {
    const kept = tail(3)
    kept.keep(bytes(1))
    kept.keep(bytes(2, 3, 4, 5, 6, 7))
    expect(kept.last()).toEqual({ bytes: bytes(5, 6, 7), cut: true })
  })

  it('should copy what it keeps, so a reused read buffer may change afterwards', () => {
    const kept = tail(4)
    const buffer = bytes(1, 2)
    kept.keep(buffer)
    buffer.fill(0)
    expect(kept.last().bytes).toEqual(bytes(1, 2))
  })

  it('should say the body was exactly the ring when it was, uncut', () => {
    const kept = tail(2)
    kept.keep(bytes(1, 2))
    expect(kept.last()).toEqual({ bytes: bytes(1, 2), cut: false })
  })
})
