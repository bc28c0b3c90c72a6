import { describe, expect, it } from 'vitest'
import { parseConfig } from './env'
import { step, initialState } from './providers/openai-compatible/stream'
import { SseSplitter } from './providers/sse'
import { alnum9 } from './providers/openai-compatible/request'
import { resolveModel } from './providers/catalog'

describe('probe', () => {
  it('should probe', () => {
    const k = 'x'.repeat(20)
    for (const v of [
      'not a url',
      'ftp://x.y',
      'https://u:pw@x.y',
      'https://x.y/?q=1',
      'https://x.y/#f',
      'http://[::1',
      '',
    ]) {
      try {
        parseConfig({ FLOOPY_DEV_API_KEY: k, OPENAI_BASE_URL: v })
        console.log(v, 'OK')
      } catch (e) {
        console.log(JSON.stringify(v), String(e), (e as Error).constructor.name)
      }
    }
    try {
      parseConfig({
        FLOOPY_DEV_API_KEY: k,
        FLOOPY_CUSTOM_PROVIDERS: '[{"id":"a","baseUrl":"nope"}]',
      })
    } catch (e) {
      console.log(String(e))
    }
    const s = new SseSplitter()
    console.log(JSON.stringify(s.push('data: a\r\r')), JSON.stringify(s.rest()))
    try {
      console.log(
        step(
          initialState({ showUsage: false }),
          { raw: 'data: 42', event: undefined, data: '42' },
          () => 'E',
        ),
      )
    } catch (e) {
      console.log('step threw', String(e))
    }
    console.log(JSON.stringify(resolveModel('text-embedding-004', new Set(['openai']), new Map())))
    const seen = new Map<string, string>()
    let coll = 0
    for (let i = 0; i < 10000; i++) {
      const id = `call_${i}`
      const a = alnum9(id)
      if (seen.has(a)) coll++
      seen.set(a, id)
    }
    console.log('collisions seq', coll)
  })
})
