/// <reference types="vite/client" />
import { describe, expect, it } from 'vitest'
import text from '../../test/fixtures/openai/fixtures/stream_max_tokens_length_4cc50a6135d2.sse?raw'

describe('probe', () => {
  it('should load raw', () => {
    expect(typeof text).toBe('string')
    expect(text.length).toBe(1124)
  })
})
