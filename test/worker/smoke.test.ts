import { SELF } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'

describe('smoke', () => {
  it('should answer', async () => {
    const res = await SELF.fetch('http://gateway/healthz')
    expect(res.status).toBe(200)
  })
})
