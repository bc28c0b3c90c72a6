/// <reference types="vite/client" />
import { describe, expect, it } from 'vitest'
import embeddingsFloat from '../../../test/fixtures/openai/fixtures/embeddings-float-response.json?raw'
import { headSink } from '../head'
import { relayJsonResponse, usageFrom, usageOfBytes } from './response'
import { usage } from '../../../test/support/unit'
import type { Captured, ResponseOutcome, Usage } from '../../types'

const encoder = new TextEncoder()

const sliced = (all: Uint8Array, size: number): Uint8Array[] => {
  const out: Uint8Array[] = []
  for (let i = 0; i < all.length; i += size) out.push(all.slice(i, i + size))
  return out
}

const streamOf = (chunks: readonly Uint8Array[]): ReadableStream<Uint8Array> => {
  let i = 0
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      const chunk = chunks[i++]
      if (chunk === undefined) controller.close()
      else controller.enqueue(chunk)
    },
  })
}

/** The same chunks as a byte stream (what `fetch` bodies are in workerd): read with BYOB. */
const byteStreamOf = (chunks: readonly Uint8Array[]): ReadableStream<Uint8Array> => {
  let i = 0
  return new ReadableStream({
    type: 'bytes',
    pull(controller) {
      const chunk = chunks[i++]
      if (chunk === undefined) controller.close()
      else controller.enqueue(chunk.slice()) // enqueue transfers (detaches) its buffer
    },
  })
}

type Source = 'default' | 'bytes'

const relay = async (
  chunks: readonly Uint8Array[],
  source: Source = 'bytes',
  headLimit?: number,
): Promise<{
  out: Uint8Array
  usages: (Usage | undefined)[]
  outcomes: ResponseOutcome[]
  captured: Captured
}> => {
  const outcomes: ResponseOutcome[] = []
  let ended: () => void = () => undefined
  const end = new Promise<void>((resolve) => {
    ended = resolve
  })
  const limit = headLimit ?? 64 * 1024
  const head = headSink(limit)
  const body = relayJsonResponse(
    (source === 'bytes' ? byteStreamOf : streamOf)(chunks),
    (outcome) => {
      outcomes.push(outcome)
      ended()
    },
    head,
  )
  const out = new Uint8Array(await new Response(body).arrayBuffer())
  await end
  return { out, usages: outcomes.map((o) => o.usage), outcomes, captured: head.head(limit) }
}

/** An embeddings response of about `megabytes` MB, `usage` last as OpenAI sends it. */
const bigEmbeddings = (megabytes: number, usageJson: string): string => {
  const vector = Array.from({ length: 1536 }, (_, i) => ((i * 7919) % 2000) / 1000 - 1).join(',')
  const item = (index: number): string =>
    `{"object":"embedding","index":${index},"embedding":[${vector}]}`
  const count = Math.ceil((megabytes * 1024 * 1024) / item(0).length)
  const data = Array.from({ length: count }, (_, i) => item(i)).join(',')
  return `{"object":"list","data":[${data}],"model":"text-embedding-3-small","usage":${usageJson}}`
}

const chatCompletion = (content: string, usageJson: string, after = ''): string =>
  `{"id":"chatcmpl-1","object":"chat.completion","created":1727346168,"model":"gpt-4o",` +
  `"choices":[{"index":0,"message":{"role":"assistant","content":${JSON.stringify(content)},` +
  `"refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":${usageJson}${after}}`

const DETAILED_USAGE =
  '{"prompt_tokens":1200,"completion_tokens":300,"total_tokens":1500,' +
  '"prompt_tokens_details":{"cached_tokens":1024,"audio_tokens":0},' +
  '"completion_tokens_details":{"reasoning_tokens":64,"audio_tokens":0,' +
  '"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}'

describe('relayJsonResponse', () => {
  it('should pass a small body through unchanged and read its usage', async () => {
    const text = chatCompletion('Hello!', DETAILED_USAGE)
    const { out, usages } = await relay(sliced(encoder.encode(text), 50))
    expect(new TextDecoder().decode(out)).toBe(text)
    expect(usages).toEqual([usage(1200, 300, 1500, 1024, 64)])
  })

  it('should read usage from the recorded embeddings response', async () => {
    const { out, usages } = await relay([encoder.encode(embeddingsFloat)])
    expect(new TextDecoder().decode(out)).toBe(embeddingsFloat)
    expect(usages).toEqual([usage(1, 0, 1)])
  })

  it('should report undefined usage for a body without usage', async () => {
    const text = '{"object":"list","data":[],"model":"m"}'
    const { usages } = await relay([encoder.encode(text)])
    expect(usages).toEqual([undefined])
  })

  it('should report undefined usage for an empty body', async () => {
    const { out, usages } = await relay([])
    expect(out.byteLength).toBe(0)
    expect(usages).toEqual([undefined])
  })

  it('should report undefined usage for a body that is not JSON', async () => {
    const { usages } = await relay([encoder.encode('<html>502 Bad Gateway</html>')])
    expect(usages).toEqual([undefined])
  })

  describe('with a multi-megabyte body', () => {
    const text = bigEmbeddings(3, '{"prompt_tokens":8191,"total_tokens":8191}')
    const bytes = encoder.encode(text)

    it('should be larger than 3 MB', () => {
      expect(bytes.byteLength).toBeGreaterThan(3 * 1024 * 1024)
    })

    it.each(
      [1000, 16 * 1024, 65_536, 100_003].flatMap((size) =>
        (['bytes', 'default'] as const).map((source) => [size, source] as const),
      ),
    )(
      'should pass the body through unchanged in %i-byte chunks (%s stream) and read usage from its tail',
      async (size, source) => {
        const { out, usages } = await relay(sliced(bytes, size), source)
        expect(out.byteLength).toBe(bytes.byteLength)
        expect(out).toEqual(bytes)
        expect(usages).toEqual([usage(8191, 0, 8191)])
      },
    )

    it('should read usage when the whole body arrives as one chunk', async () => {
      const { out, usages } = await relay([bytes])
      expect(out).toEqual(bytes)
      expect(usages).toEqual([usage(8191, 0, 8191)])
    })

    it('should read nested usage details from the tail', async () => {
      const big = chatCompletion(
        'x'.repeat(200_000),
        DETAILED_USAGE,
        ',"system_fingerprint":"fp_1"',
      )
      const { usages } = await relay(sliced(encoder.encode(big), 4096))
      expect(usages).toEqual([usage(1200, 300, 1500, 1024, 64)])
    })

    it('should read usage that arrives spread over many small chunks', async () => {
      const big = chatCompletion('x'.repeat(200_000), DETAILED_USAGE)
      const { out, usages } = await relay(sliced(encoder.encode(big), 64))
      expect(new TextDecoder().decode(out)).toBe(big)
      expect(usages).toEqual([usage(1200, 300, 1500, 1024, 64)])
    })

    it('should not be confused by braces and quotes inside strings', async () => {
      const content = `${'{"usage": }'.repeat(10_000)} end "quoted" {braces}`
      const usageJson =
        '{"prompt_tokens":5,"completion_tokens":6,"total_tokens":11,"service_tier":"a}b{\\"c\\"}"}'
      const big = chatCompletion(content, usageJson, ',"note":"} {"')
      const { usages } = await relay(sliced(encoder.encode(big), 3000))
      expect(usages).toEqual([usage(5, 6, 11)])
    })

    it('should report undefined usage when a large body has none', async () => {
      const big = chatCompletion('x'.repeat(100_000), 'null')
      const { usages } = await relay(sliced(encoder.encode(big), 8192))
      expect(usages).toEqual([undefined])
    })

    it('should read the top-level usage when a nested usage follows it (Groq x_groq)', async () => {
      // Groq's non-streamed answer carries `x_groq: { id, usage: { dram_cached_tokens, … } }`
      // after the OpenAI `usage`.
      const big = chatCompletion(
        'x'.repeat(100_000),
        '{"prompt_tokens":40,"completion_tokens":7,"total_tokens":47}',
        ',"x_groq":{"id":"req_01","usage":{"dram_cached_tokens":0,"sram_cached_tokens":0}}',
      )
      const { usages } = await relay(sliced(encoder.encode(big), 8192))
      expect(usages).toEqual([usage(40, 7, 47)])
    })
  })
})

describe('relayJsonResponse: the tap beside the client', () => {
  it('should find a BYOB reader on a tee branch of a byte stream in this runtime', () => {
    const [, branch] = byteStreamOf([encoder.encode('{}')]).tee()
    const reader = branch.getReader({ mode: 'byob' })
    expect(reader).toBeInstanceOf(ReadableStreamBYOBReader)
    reader.releaseLock()
  })

  it.each(['bytes', 'default'] as const)(
    'should keep the first bytes for the log and say when it cut them (%s stream)',
    async (source) => {
      const text = chatCompletion('x'.repeat(5000), DETAILED_USAGE)
      const whole = await relay(sliced(encoder.encode(text), 777), source, 1024 * 1024)
      expect(whole.captured).toEqual({ text, truncated: false })
      const cut = await relay(sliced(encoder.encode(text), 777), source, 1000)
      expect(cut.captured).toEqual({ text: text.slice(0, 1000), truncated: true })
      // The usage is read from the tail, whatever the head kept.
      expect(cut.usages).toEqual([usage(1200, 300, 1500, 1024, 64)])
    },
  )

  it('should report the body as interrupted when it breaks off', async () => {
    let sent = 0
    const broken: ReadableStream<Uint8Array> = new ReadableStream({
      type: 'bytes',
      pull(controller) {
        if (sent++ < 3) controller.enqueue(encoder.encode('{"data":[1,2,3,'))
        else controller.error(new Error('connection reset'))
      },
    })
    const outcomes: ResponseOutcome[] = []
    const ended = new Promise<void>((resolve) => {
      const body = relayJsonResponse(broken, (outcome) => {
        outcomes.push(outcome)
        resolve()
      })
      void new Response(body).arrayBuffer().catch(() => undefined)
    })
    await ended
    expect(outcomes).toEqual([{ usage: undefined, end: 'interrupted' }])
  })
})

describe('usageFrom', () => {
  it('should read usage from a whole body', () => {
    expect(usageFrom(chatCompletion('hi', DETAILED_USAGE), true)).toEqual(
      usage(1200, 300, 1500, 1024, 64),
    )
  })

  it('should read usage from a tail that starts mid-body', () => {
    const tail = `0.25,-0.5]}],"model":"m","usage":{"prompt_tokens":3,"total_tokens":3}}`
    expect(usageFrom(tail, false)).toEqual(usage(3, 0, 3))
  })

  it('should return undefined when the tail has no usage', () => {
    expect(usageFrom('0.25,-0.5]}],"model":"m"}', false)).toBeUndefined()
  })

  it('should return undefined when the usage object is cut off', () => {
    expect(usageFrom('"usage":{"prompt_tokens":3,"total_tok', false)).toBeUndefined()
  })

  it('should return undefined for a whole body that is not JSON', () => {
    expect(usageFrom('{"usage":{"prompt_tokens":3}', true)).toBeUndefined()
  })

  it('should skip escaped quotes inside strings when matching braces', () => {
    const tail = `"usage":{"prompt_tokens":2,"x":"\\"}\\"","completion_tokens":1}}`
    expect(usageFrom(tail, false)).toEqual(usage(2, 1, 3))
  })
})

describe('usageOfBytes', () => {
  const bytes = (text: string): Uint8Array => new TextEncoder().encode(text)
  const padding = `"data":"${'x'.repeat(10_000)}"`

  it('should read usage near the end of a long body', () => {
    const body = `{${padding},"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}`
    expect(usageOfBytes(bytes(body))).toEqual(usage(3, 4, 7))
  })

  it('should read usage far from the end by parsing the whole body', () => {
    const body = `{"usage":{"prompt_tokens":5,"total_tokens":5},${padding}}`
    expect(usageOfBytes(bytes(body))).toEqual(usage(5, 0, 5))
  })

  it('should take the top-level usage when a later "usage" is not a token count', () => {
    const body = `{${padding},"usage":{"prompt_tokens":2,"total_tokens":2},"x":{"usage":"n/a"}}`
    expect(usageOfBytes(bytes(body))).toEqual(usage(2, 0, 2))
  })

  it('should not take a near match of the key', () => {
    const body = `{${padding},"usages":{"prompt_tokens":9,"total_tokens":9}}`
    expect(usageOfBytes(bytes(body))).toBeUndefined()
  })

  it('should answer undefined for a body without usage or one that is not JSON', () => {
    expect(usageOfBytes(bytes(`{${padding}}`))).toBeUndefined()
    expect(usageOfBytes(bytes('not json "usage"'))).toBeUndefined()
    expect(usageOfBytes(new Uint8Array())).toBeUndefined()
  })
})
