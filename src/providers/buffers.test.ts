/**
 * Read buffers kept from one answer for the next: a buffer given back is zeroed and taken by the
 * next answer of its size; detached, oversized or duplicate buffers are never kept, and no more
 * than a few of one size.
 */
import { describe, expect, it } from 'vitest'
import { giveBuffer, sparesOf, takeBuffer } from './buffers'

/** Empties the spares of `size` (the module's state outlives a test). */
const emptied = (size: number): number => {
  while (sparesOf(size) > 0) takeBuffer(size)
  return size
}

describe('read buffers', () => {
  it('should hand a buffer given back to the next taker of its size, zeroed', () => {
    const size = emptied(1024)
    const buffer = takeBuffer(size)
    expect(buffer.byteLength).toBe(size)
    new Uint8Array(buffer).fill(7)
    giveBuffer(buffer)
    expect(sparesOf(size)).toBe(1)
    const again = takeBuffer(size)
    expect(again).toBe(buffer)
    expect(new Uint8Array(again).every((byte) => byte === 0)).toBe(true)
    expect(sparesOf(size)).toBe(0)
    expect(takeBuffer(size)).not.toBe(buffer)
  })

  it('should keep neither a detached buffer, an oversized one nor the same one twice', () => {
    const size = emptied(2048)
    const detached = takeBuffer(size)
    structuredClone(detached, { transfer: [detached] })
    expect(detached.byteLength).toBe(0)
    giveBuffer(detached)
    giveBuffer(undefined)
    giveBuffer(new ArrayBuffer(1024 * 1024))
    expect(sparesOf(0)).toBe(0)
    expect(sparesOf(1024 * 1024)).toBe(0)
    const buffer = takeBuffer(size)
    giveBuffer(buffer)
    giveBuffer(buffer)
    expect(sparesOf(size)).toBe(1)
  })

  it('should keep at most four buffers of one size', () => {
    const size = emptied(4096)
    for (let i = 0; i < 6; i++) giveBuffer(new ArrayBuffer(size))
    expect(sparesOf(size)).toBe(4)
  })
})
