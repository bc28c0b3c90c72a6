/** @module Vectors as text for storage: little-endian float32 bytes, base64. Pure. */

export const encodeVector = (vector: Float32Array): string => {
  const bytes = new Uint8Array(vector.length * 4)
  const view = new DataView(bytes.buffer)
  vector.forEach((value, i) => {
    view.setFloat32(i * 4, value, true)
  })
  let binary = ''
  for (const byte of bytes) binary += String.fromCharCode(byte)
  return btoa(binary)
}

/** `undefined` for text that is not a whole number of float32s. */
export const decodeVector = (text: string): Float32Array | undefined => {
  let binary: string
  try {
    binary = atob(text)
  } catch {
    return undefined
  }
  if (binary.length % 4 !== 0) return undefined
  const view = new DataView(new ArrayBuffer(binary.length))
  for (let i = 0; i < binary.length; i++) view.setUint8(i, binary.charCodeAt(i))
  const vector = new Float32Array(binary.length / 4)
  for (let i = 0; i < vector.length; i++) vector[i] = view.getFloat32(i * 4, true)
  return vector
}
