import { describe, expect, it } from 'vitest'
import { GatewayError } from '../../errors'
import { inToolLoop, translateMessages } from './messages'

type Body = Record<string, unknown>

const user = { role: 'user', content: 'Hello' }

/** The translation as it goes on the wire: `{ system, messages }`. */
const bodyOf = ({ messages }: { messages: unknown[] }): Body =>
  JSON.parse(JSON.stringify(translateMessages(messages))) as Body

/** The GatewayError a translation throws (fails the test when it throws nothing). */
const rejection = ({ messages }: { messages: unknown[] }): GatewayError => {
  try {
    translateMessages(messages)
  } catch (err) {
    if (err instanceof GatewayError) return err
    throw err
  }
  throw new Error('expected the translation to throw')
}

const text = (value: string): Body => ({ type: 'text', text: value })

describe('translateMessages', () => {
  it('should keep a lone string message as it is, with no system', () => {
    expect(bodyOf({ messages: [user] })).toEqual({ system: [], messages: [user] })
  })

  it('should reject a body whose messages are not an array', () => {
    expect(() => translateMessages('hi')).toThrow(GatewayError)
  })

  describe('system and developer messages', () => {
    it('should move them, wherever they are, to the top-level system in order', () => {
      const body = bodyOf({
        messages: [
          { role: 'system', content: 'Be brief.' },
          user,
          { role: 'developer', content: [{ type: 'text', text: 'Answer in French.' }] },
          { role: 'assistant', content: 'Bonjour' },
        ],
      })
      expect(body.system).toEqual([
        { type: 'text', text: 'Be brief.' },
        { type: 'text', text: 'Answer in French.' },
      ])
      expect(body.messages).toEqual([user, { role: 'assistant', content: [text('Bonjour')] }])
    })

    it('should keep cache_control on system parts', () => {
      const cache = { type: 'ephemeral', ttl: '1h' }
      const body = bodyOf({
        messages: [
          {
            role: 'system',
            content: [{ type: 'text', text: 'Long prompt', cache_control: cache }],
          },
          user,
        ],
      })
      expect(body.system).toEqual([{ type: 'text', text: 'Long prompt', cache_control: cache }])
    })

    it('should refuse a request that has only system messages', () => {
      const err = rejection({ messages: [{ role: 'system', content: 'x' }] })
      expect([err.code, err.param]).toEqual(['INVALID_REQUEST', 'messages'])
    })
  })

  describe('user content', () => {
    it('should translate text and image parts, keeping cache_control', () => {
      const cache = { type: 'ephemeral' }
      const body = bodyOf({
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'What is this?', cache_control: cache },
              {
                type: 'image_url',
                image_url: { url: 'https://example.com/a.png', detail: 'high' },
              },
              { type: 'image_url', image_url: { url: 'data:image/PNG;base64,iVBORw0KGgo=' } },
            ],
          },
        ],
      })
      expect(body.messages).toEqual([
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is this?', cache_control: cache },
            { type: 'image', source: { type: 'url', url: 'https://example.com/a.png' } },
            {
              type: 'image',
              source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' },
            },
          ],
        },
      ])
    })

    it('should translate a base64 PDF file part into a document block', () => {
      const body = bodyOf({
        messages: [
          {
            role: 'user',
            content: [
              {
                type: 'file',
                file: { filename: 'a.pdf', file_data: 'data:application/pdf;base64,JVBERi0=' },
              },
            ],
          },
        ],
      })
      expect(body.messages).toEqual([
        {
          role: 'user',
          content: [
            {
              type: 'document',
              source: { type: 'base64', media_type: 'application/pdf', data: 'JVBERi0=' },
            },
          ],
        },
      ])
    })

    it.each([
      [
        'an image type Anthropic does not take',
        { type: 'image_url', image_url: { url: 'data:image/bmp;base64,Qk0=' } },
        'messages.0.content.0.image_url.url',
        'UNSUPPORTED_BY_PROVIDER',
      ],
      [
        'a non-base64 data URL',
        { type: 'image_url', image_url: { url: 'data:image/png,abc' } },
        'messages.0.content.0.image_url.url',
        'UNSUPPORTED_BY_PROVIDER',
      ],
      [
        'an image URL of another scheme',
        { type: 'image_url', image_url: { url: 'ftp://x/a.png' } },
        'messages.0.content.0.image_url.url',
        'INVALID_REQUEST',
      ],
      [
        'audio input',
        { type: 'input_audio', input_audio: { data: 'x', format: 'wav' } },
        'messages.0.content.0',
        'UNSUPPORTED_BY_PROVIDER',
      ],
      [
        'an OpenAI file id',
        { type: 'file', file: { file_id: 'file-1' } },
        'messages.0.content.0.file',
        'UNSUPPORTED_BY_PROVIDER',
      ],
      ['an unknown part', { type: 'video' }, 'messages.0.content.0.type', 'INVALID_REQUEST'],
    ])('should reject %s with a 400 naming the part', (_, part, param, code) => {
      const err = rejection({ messages: [{ role: 'user', content: [part] }] })
      expect([err.status, err.code, err.param]).toEqual([400, code, param])
    })
  })

  describe('tool calls and results', () => {
    const call = (id: string, args: string) => ({
      id,
      type: 'function',
      function: { name: 'get_weather', arguments: args },
    })

    it('should turn assistant tool_calls into tool_use blocks after the text', () => {
      const body = bodyOf({
        messages: [
          user,
          {
            role: 'assistant',
            content: 'Checking.',
            tool_calls: [call('toolu_1', '{"city":"Paris"}'), call('toolu_2', '')],
          },
        ],
      })
      expect(body.messages).toEqual([
        user,
        {
          role: 'assistant',
          content: [
            text('Checking.'),
            { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } },
            { type: 'tool_use', id: 'toolu_2', name: 'get_weather', input: {} },
          ],
        },
      ])
    })

    it('should reject arguments that are not a JSON object, naming the message', () => {
      const messages = [user, { role: 'assistant', content: null, tool_calls: [call('t', '{x')] }]
      const err = rejection({ messages })
      expect([err.code, err.status, err.param]).toEqual([
        'INVALID_REQUEST',
        400,
        'messages.1.tool_calls.0.function.arguments',
      ])
      expect(err.message).toContain('message 1')
      const array = [user, { role: 'assistant', tool_calls: [call('t', '[1]')] }]
      expect(rejection({ messages: array }).param).toBe(
        'messages.1.tool_calls.0.function.arguments',
      )
    })

    it('should merge consecutive tool results, and a following user message, into one turn', () => {
      const body = bodyOf({
        messages: [
          user,
          {
            role: 'assistant',
            content: null,
            tool_calls: [call('toolu_1', '{}'), call('toolu_2', '{}')],
          },
          { role: 'tool', tool_call_id: 'toolu_1', content: 'sunny' },
          { role: 'tool', tool_call_id: 'toolu_2', content: [{ type: 'text', text: 'rainy' }] },
          { role: 'user', content: 'Thanks' },
        ],
      })
      expect(body.messages).toEqual([
        user,
        {
          role: 'assistant',
          content: [
            { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: {} },
            { type: 'tool_use', id: 'toolu_2', name: 'get_weather', input: {} },
          ],
        },
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: 'toolu_1', content: 'sunny' },
            { type: 'tool_result', tool_use_id: 'toolu_2', content: [text('rainy')] },
            text('Thanks'),
          ],
        },
      ])
    })

    it('should merge consecutive same-role messages and skip empty assistant ones', () => {
      const body = bodyOf({
        messages: [
          { role: 'user', content: 'One' },
          { role: 'user', content: [{ type: 'text', text: 'Two' }] },
          { role: 'assistant', content: '' },
          {
            role: 'assistant',
            content: [
              { type: 'text', text: 'A' },
              { type: 'refusal', refusal: 'B' },
            ],
          },
          { role: 'assistant', content: 'C' },
        ],
      })
      expect(body.messages).toEqual([
        { role: 'user', content: [text('One'), text('Two')] },
        { role: 'assistant', content: [text('A'), text('B'), text('C')] },
      ])
    })

    it('should reject the deprecated function role and unknown roles', () => {
      const fn = rejection({ messages: [{ role: 'function', name: 'f', content: 'x' }] })
      expect([fn.code, fn.param]).toEqual(['UNSUPPORTED_BY_PROVIDER', 'messages.0.role'])
      expect(rejection({ messages: [{ role: 'robot', content: 'x' }] }).param).toBe(
        'messages.0.role',
      )
    })
  })
})

describe('inToolLoop', () => {
  it('should tell whether the last assistant turn called tools', () => {
    const call = { type: 'tool_use' as const, id: 't', name: 'f', input: {} }
    expect(inToolLoop([{ role: 'assistant', content: [call] }])).toBe(true)
    const result = { type: 'tool_result' as const, tool_use_id: 't', content: 'ok' }
    expect(
      inToolLoop([
        { role: 'assistant', content: [call] },
        { role: 'user', content: [result] },
      ]),
    ).toBe(true)
    expect(
      inToolLoop([
        { role: 'assistant', content: [call] },
        { role: 'user', content: [result] },
        { role: 'assistant', content: 'Done.' },
        { role: 'user', content: 'Next' },
      ]),
    ).toBe(false)
    expect(inToolLoop([{ role: 'user', content: 'Hi' }])).toBe(false)
  })
})
