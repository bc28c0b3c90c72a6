/**
 * @module A bounded copy of a response body for the request log, taken as the body passes.
 *
 * The client's stream is not delayed or buffered: each chunk is forwarded as it comes and copied
 * only while the copy is under `limit` bytes, so the log costs at most `limit` bytes of memory per
 * request whatever the response size (a 16 MB answer is logged truncated, flagged as such).
 */

/** What was captured once the body has ended. */
export type Captured = { readonly text: string; readonly truncated: boolean }

/** 64 KiB: a long chat answer in full, and a log message still fits a Queue message (128 KB). */
export const CAPTURE_LIMIT = 64 * 1024

export type Capture = {
  /** The body to send to the client instead of the original. */
  readonly body: ReadableStream<Uint8Array> | ArrayBuffer
  /** The copy so far: call it once the body has ended (or was cancelled). */
  readonly captured: () => Captured
}

const decode = (chunks: readonly Uint8Array[]): string => {
  const decoder = new TextDecoder()
  let text = ''
  for (const chunk of chunks) text += decoder.decode(chunk, { stream: true })
  return text + decoder.decode()
}

/** Takes chunks as they pass, copying them while the copy is under `limit` bytes. */
export type CaptureSink = {
  readonly take: (chunk: Uint8Array) => void
  readonly captured: () => Captured
}

export const captureSink = (limit = CAPTURE_LIMIT): CaptureSink => {
  const chunks: Uint8Array[] = []
  let kept = 0
  let truncated = false
  return {
    take(chunk) {
      if (kept >= limit) {
        truncated ||= chunk.byteLength > 0
        return
      }
      const room = limit - kept
      const copy = chunk.slice(0, room)
      chunks.push(copy)
      kept += copy.byteLength
      truncated ||= chunk.byteLength > room
    },
    captured: () => ({ text: decode(chunks), truncated }),
  }
}

export const captureBody = (
  body: ReadableStream<Uint8Array> | ArrayBuffer,
  limit = CAPTURE_LIMIT,
): Capture => {
  if (body instanceof ArrayBuffer) {
    const bytes = new Uint8Array(body, 0, Math.min(body.byteLength, limit))
    const result = { text: decode([bytes]), truncated: body.byteLength > limit }
    return { body, captured: () => result }
  }
  const sink = captureSink(limit)
  const tap = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      controller.enqueue(chunk)
      sink.take(chunk)
    },
  })
  return { body: body.pipeThrough(tap), captured: sink.captured }
}
