/**
 * @module Relays a non-streamed JSON response unchanged while reading its `usage` on the way.
 *
 * The body is passed through as it arrives, so memory stays flat in response size (a 2,048-input
 * embeddings batch can be tens of megabytes). Small bodies are kept whole and parsed at the end;
 * for large ones only a tail window is kept — OpenAI-compatible providers put `usage` last.
 */
import { readUsage, type Usage } from '../usage'

const KEEP_WHOLE_BYTES = 64 * 1024
const TAIL_BYTES = 16 * 1024

export const relayJsonResponse = (
  upstream: ReadableStream<Uint8Array>,
  onEnd: (usage: Usage | undefined) => void,
): ReadableStream<Uint8Array> => {
  const parts: Uint8Array[] = []
  let kept = 0
  let whole = true
  return upstream.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        controller.enqueue(chunk)
        parts.push(chunk)
        kept += chunk.byteLength
        if (kept > KEEP_WHOLE_BYTES) {
          whole = false
          // Drop leading parts while what remains still covers the tail window.
          while (parts.length > 1 && kept - (parts[0]?.byteLength ?? 0) >= TAIL_BYTES) {
            kept -= parts.shift()?.byteLength ?? 0
          }
        }
      },
      flush() {
        onEnd(usageFrom(new TextDecoder().decode(concat(parts, kept)), whole))
      },
    }),
  )
}

const concat = (parts: readonly Uint8Array[], length: number): Uint8Array => {
  const out = new Uint8Array(length)
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.byteLength
  }
  return out
}

/** Finds `usage` in a whole body, or in the tail of one by scanning its last `"usage":{…}`. */
export const usageFrom = (text: string, whole: boolean): Usage | undefined => {
  if (whole) {
    try {
      return readUsage((JSON.parse(text) as { usage?: unknown }).usage)
    } catch {
      return undefined
    }
  }
  const key = text.lastIndexOf('"usage"')
  if (key === -1) return undefined
  const open = text.indexOf('{', key)
  const close = open === -1 ? -1 : matchingBrace(text, open)
  if (close === -1) return undefined
  try {
    return readUsage(JSON.parse(text.slice(open, close + 1)))
  } catch {
    return undefined
  }
}

const matchingBrace = (text: string, open: number): number => {
  let depth = 0
  let inString = false
  for (let i = open; i < text.length; i++) {
    const ch = text[i]
    if (inString) {
      if (ch === '\\') i++
      else if (ch === '"') inString = false
    } else if (ch === '"') inString = true
    else if (ch === '{') depth++
    else if (ch === '}' && --depth === 0) return i
  }
  return -1
}
