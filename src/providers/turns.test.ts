import { describe, expect, it } from 'vitest'
import { GatewayError } from '../errors'
import { walkTurns, type TurnRole, type TurnSpelling } from './turns'

type Turn = { role: TurnRole; parts: string[] }

/** A family that spells every part as its text, so the walk's own choices are what is seen. */
const spelling: TurnSpelling<string, string[], Turn> = {
  family: 'Test models',
  system: (content) => [`system:${String(content)}`],
  user: (content) => [`user:${String(content)}`],
  assistant: (message) => (message.content === '' ? [] : [`assistant:${String(message.content)}`]),
  toolResult: (message) => [`tool:${String(message.content)}`],
  push: (turns, role, parts) => {
    const last = turns.at(-1)
    if (last?.role === role) last.parts.push(...parts)
    else turns.push({ role, parts: [...parts] })
  },
}

const rejection = (messages: unknown): GatewayError => {
  try {
    walkTurns(messages, spelling)
  } catch (err) {
    if (err instanceof GatewayError) return err
    throw err
  }
  throw new Error('the walk took the messages')
}

describe('walkTurns', () => {
  it('should put system and developer messages apart, in order, wherever they appear', () => {
    const walked = walkTurns(
      [
        { role: 'system', content: 'a' },
        { role: 'user', content: 'hi' },
        { role: 'developer', content: 'b' },
        { role: 'assistant', content: 'hello' },
      ],
      spelling,
    )
    expect(walked.system).toEqual(['system:a', 'system:b'])
    expect(walked.turns).toEqual([
      { role: 'user', parts: ['user:hi'] },
      { role: 'assistant', parts: ['assistant:hello'] },
    ])
  })

  it('should put tool results in user turns, merged with the user turn beside them', () => {
    const walked = walkTurns(
      [
        { role: 'user', content: 'go' },
        { role: 'assistant', content: 'calling' },
        { role: 'tool', content: 'one' },
        { role: 'tool', content: 'two' },
        { role: 'user', content: 'and?' },
      ],
      spelling,
    )
    expect(walked.turns).toEqual([
      { role: 'user', parts: ['user:go'] },
      { role: 'assistant', parts: ['assistant:calling'] },
      { role: 'user', parts: ['tool:one', 'tool:two', 'user:and?'] },
    ])
  })

  it('should leave out an assistant message with nothing to say', () => {
    const walked = walkTurns(
      [
        { role: 'user', content: 'a' },
        { role: 'assistant', content: '' },
        { role: 'user', content: 'b' },
      ],
      spelling,
    )
    expect(walked.turns).toEqual([{ role: 'user', parts: ['user:a', 'user:b'] }])
  })

  it('should refuse the function role as unsupported, naming the family and the message', () => {
    const error = rejection([
      { role: 'user', content: 'a' },
      { role: 'function', name: 'f', content: 'x' },
    ])
    expect([error.code, error.status, error.param]).toEqual([
      'UNSUPPORTED_BY_PROVIDER',
      400,
      'messages.1.role',
    ])
    expect(error.message).toContain('Test models')
  })

  it('should refuse what is not a conversation, naming where', () => {
    expect(rejection({ role: 'user' }).param).toBe('messages')
    expect(rejection(['hi']).param).toBe('messages.0')
    expect(rejection([{ role: 'robot', content: 'x' }]).param).toBe('messages.0.role')
    const onlySystem = rejection([{ role: 'system', content: 'a' }])
    expect([onlySystem.code, onlySystem.param]).toEqual(['INVALID_REQUEST', 'messages'])
    expect(onlySystem.message).toContain('Test models')
  })
})
