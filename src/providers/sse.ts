/**
 * @module Incremental Server-Sent Events framing (WHATWG HTML §9.2, "event stream" format).
 *
 * Splits decoded text into complete events as they arrive, keeping each event's original text so
 * an unchanged event can be forwarded byte for byte. Line endings may be LF, CRLF or CR.
 */

export type SseEvent = {
  /** The event's original lines (LF-joined, no trailing blank line). */
  readonly raw: string
  /** The `event:` field, when present. */
  readonly event: string | undefined
  /** The joined `data:` lines; `undefined` for events without data (e.g. comments). */
  readonly data: string | undefined
}

export class SseSplitter {
  #buffer = ''
  /** The previous chunk ended in CR: a LF opening this one is the rest of that CRLF. */
  #pendingLf = false

  /** Feeds decoded text; returns the events completed by it. */
  push(text: string): SseEvent[] {
    let input = text
    if (this.#pendingLf && input.startsWith('\n')) input = input.slice(1)
    this.#pendingLf = input.endsWith('\r')
    if (input.includes('\r')) input = input.replace(/\r\n?/g, '\n')
    return this.#drain(this.#buffer + input)
  }

  /** The text of an unterminated final event, if the stream ended inside one. */
  rest(): string {
    return this.#buffer
  }

  #drain(buffer: string): SseEvent[] {
    const events: SseEvent[] = []
    let start = 0
    for (;;) {
      const end = buffer.indexOf('\n\n', start)
      if (end === -1) break
      const raw = buffer.slice(start, end)
      start = end + 2
      if (raw.length > 0) events.push(parseEvent(raw))
    }
    this.#buffer = buffer.slice(start)
    return events
  }
}

const parseEvent = (raw: string): SseEvent => {
  // Fast path: the overwhelmingly common single `data: …` line.
  if (raw.startsWith('data:') && !raw.includes('\n')) {
    return { raw, event: undefined, data: raw.charCodeAt(5) === 32 ? raw.slice(6) : raw.slice(5) }
  }
  let event: string | undefined
  let data: string | undefined
  for (const line of raw.split('\n')) {
    if (line.startsWith(':')) continue
    const colon = line.indexOf(':')
    const name = colon === -1 ? line : line.slice(0, colon)
    let value = colon === -1 ? '' : line.slice(colon + 1)
    if (value.startsWith(' ')) value = value.slice(1)
    if (name === 'data') data = data === undefined ? value : `${data}\n${value}`
    else if (name === 'event') event = value
  }
  return { raw, event, data }
}
