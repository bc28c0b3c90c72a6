/// <reference types="vite/client" />
/**
 * @module The recorded Gemini exchanges the unit tests replay (test/fixtures/gemini, sources in
 * test/fixtures/SOURCES.md). Imported by tests only.
 *
 * The js-genai recordings store each body as parsed JSON (`bodySegments`, one segment per SSE
 * event for streams), so a stream is rebuilt here as `data: <segment>` events; the
 * generative-ai-js mocks are raw SSE bytes (CRLF framing) and are used as they are.
 */
import streamFunctionCall from '../../../test/fixtures/gemini/js-genai-recordings/Chats_Tests_chats_function_calling_Google_AI_with_function_calling_stream.json?raw'
import streamError from '../../../test/fixtures/gemini/js-genai-recordings/Chats_Tests_sendMessage_Send_message_stream_with_error.json?raw'
import streamSystem from '../../../test/fixtures/gemini/js-genai-recordings/Client_Tests_generateContentStream_ML_Dev_should_stream_generate_content_with_system_instruction.json?raw'
import unarySystem from '../../../test/fixtures/gemini/js-genai-recordings/Client_Tests_generateContent_ML_Dev_should_generate_content_with_system_instruction.json?raw'
import unaryThinking from '../../../test/fixtures/gemini/js-genai-recordings/Client_Tests_test_thinking_generate_content_should_return_thought_field.json?raw'
import unaryFunctionCalling from '../../../test/fixtures/gemini/js-genai-recordings/non-streaming_Tests_generateContent_afc_enabled_Google_AI_AFC_enabled.json?raw'

export { default as mockStreamEmptyContent } from '../../../test/fixtures/gemini/generative-ai-js-mock-responses/streaming-failure-empty-content.txt?raw'
export { default as mockStreamSafety } from '../../../test/fixtures/gemini/generative-ai-js-mock-responses/streaming-failure-finish-reason-safety.txt?raw'
export { default as mockStreamBlocked } from '../../../test/fixtures/gemini/generative-ai-js-mock-responses/streaming-failure-prompt-blocked-safety.txt?raw'
export { default as mockStreamLong } from '../../../test/fixtures/gemini/generative-ai-js-mock-responses/streaming-success-basic-reply-long.txt?raw'
export { default as mockStreamShort } from '../../../test/fixtures/gemini/generative-ai-js-mock-responses/streaming-success-basic-reply-short.txt?raw'
export { default as mockStreamFunctionCall } from '../../../test/fixtures/gemini/generative-ai-js-mock-responses/streaming-success-function-call-short.txt?raw'
export { default as mockUnarySafety } from '../../../test/fixtures/gemini/generative-ai-js-mock-responses/unary-failure-finish-reason-safety.json?raw'
export { default as mockUnaryImageRejected } from '../../../test/fixtures/gemini/generative-ai-js-mock-responses/unary-failure-image-rejected.json?raw'
export { default as mockUnaryBlocked } from '../../../test/fixtures/gemini/generative-ai-js-mock-responses/unary-failure-prompt-blocked-safety.json?raw'
export { default as mockUnaryShort } from '../../../test/fixtures/gemini/generative-ai-js-mock-responses/unary-success-basic-reply-short.json?raw'

export type Exchange = {
  readonly url: string
  readonly request: Record<string, unknown>
  readonly status: number
  readonly responses: readonly Record<string, unknown>[]
}

type Recording = {
  interactions: {
    request: { url: string; bodySegments: Record<string, unknown>[] }
    response: { statusCode: number; bodySegments: Record<string, unknown>[] }
  }[]
}

const exchanges = (text: string): Exchange[] =>
  (JSON.parse(text) as Recording).interactions.map(({ request, response }) => {
    const [body] = request.bodySegments
    if (body === undefined) throw new Error('a recorded request without a body')
    return {
      url: request.url,
      request: body,
      status: response.statusCode,
      responses: response.bodySegments,
    }
  })

export const recordings = {
  streamFunctionCall: exchanges(streamFunctionCall),
  streamError: exchanges(streamError),
  streamSystem: exchanges(streamSystem),
  unarySystem: exchanges(unarySystem),
  unaryThinking: exchanges(unaryThinking),
  unaryFunctionCalling: exchanges(unaryFunctionCalling),
}

/** The exchange at `index`; throws when the recording has fewer. */
export const exchange = (list: readonly Exchange[], index = 0): Exchange => {
  const found = list[index]
  if (found === undefined) throw new Error(`no exchange ${index} in the recording`)
  return found
}

/** A recorded stream as the SSE bytes Gemini sends (`data: <json>` events). */
export const sseOf = (events: readonly unknown[], separator = '\r\n\r\n'): string =>
  events.map((event) => `data: ${JSON.stringify(event)}${separator}`).join('')
