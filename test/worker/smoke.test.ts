import { SELF } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import { TEST_DEV_API_KEY } from '../support/bindings'

const auth = { authorization: `Bearer ${TEST_DEV_API_KEY}`, 'content-type': 'application/json' }

describe('smoke', () => {
  it('should answer healthz', async () => {
    const res = await SELF.fetch('http://gateway/healthz')
    expect(res.status).toBe(200)
  })
  it('should complete a chat', async () => {
    const res = await SELF.fetch('http://gateway/v1/chat/completions', {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
    })
    console.log(res.status, [...res.headers], await res.text())
  })
  it('should stream a chat', async () => {
    const res = await SELF.fetch('http://gateway/v1/chat/completions', {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ model: 'groq/llama-3.3-70b-versatile', stream: true, stream_options: {include_usage: true}, messages: [{ role: 'user', content: 'hi' }] }),
    })
    console.log(res.status, [...res.headers], await res.text())
  })
})
