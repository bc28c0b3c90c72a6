import { describe, expect, it } from 'vitest'
import { cosine, embeddingWords, localEmbedding } from './embedder'

const norm = (v: Float32Array): number => Math.sqrt(v.reduce((sum, x) => sum + x * x, 0))

describe('localEmbedding', () => {
  it('should give the same vector for the same text, call after call', () => {
    const text = 'How do I reset my password?'
    expect(Array.from(localEmbedding(text))).toEqual(Array.from(localEmbedding(text)))
  })

  it('should keep its features and hashing stable (stored signatures depend on them)', () => {
    const v = localEmbedding('How do I reset my password?')
    const nonZero = Array.from(v)
      .map((x, i) => [i, Number(x.toFixed(6))] as const)
      .filter(([, x]) => x !== 0)
    expect(nonZero).toHaveLength(27)
    expect(nonZero.slice(0, 5)).toEqual([
      [6, -0.210819],
      [17, 0.052705],
      [25, -0.421637],
      [55, -0.210819],
      [58, 0.105409],
    ])
  })

  it('should be L2-normalised at every dimension asked for', () => {
    for (const dimensions of [8, 64, 256, 384, 1536]) {
      const v = localEmbedding('Turn on dark mode in the settings', dimensions)
      expect(v).toHaveLength(dimensions)
      expect(norm(v)).toBeCloseTo(1, 6)
    }
  })

  it('should return all zeros for a text with no word', () => {
    const v = localEmbedding(' ?! … ')
    expect(v.every((x) => x === 0)).toBe(true)
    expect(cosine(v, localEmbedding('hello'))).toBe(0)
  })

  it('should refuse a dimension that is not a positive integer', () => {
    expect(() => localEmbedding('x', 0)).toThrow(/positive integer/)
    expect(() => localEmbedding('x', 2.5)).toThrow(/positive integer/)
  })

  it('should ignore case, punctuation, full-width forms and typographic apostrophes', () => {
    const v = localEmbedding("What's the capital of France?")
    expect(cosine(v, localEmbedding('WHAT’S THE CAPITAL OF FRANCE'))).toBeCloseTo(1, 6)
    expect(cosine(v, localEmbedding("what's  the capital of ｆｒａｎｃｅ…"))).toBeCloseTo(1, 6)
  })

  it('should read number words as digits and % as percent', () => {
    expect(cosine(localEmbedding('Give me three tips'), localEmbedding('Give me 3 tips'))).toBe(1)
    expect(cosine(localEmbedding('25 percent of 80'), localEmbedding('25% of 80'))).toBe(1)
    expect(embeddingWords("Don't stop, it's 3%")).toEqual([
      'don',
      't',
      'stop',
      'it',
      's',
      '3',
      'percent',
    ])
  })

  it('should move less for a changed function word than for a changed content word', () => {
    const base = localEmbedding('how do I reset my password')
    const functionWord = cosine(base, localEmbedding('how can I reset my password'))
    const contentWord = cosine(base, localEmbedding('how do I reset my email'))
    expect(functionWord).toBeGreaterThan(0.95)
    expect(contentWord).toBeLessThan(0.6)
  })

  it('should score a prompt and its opposite as near neighbours (why the guard exists)', () => {
    const on = localEmbedding('turn on dark mode')
    expect(cosine(on, localEmbedding('turn off dark mode'))).toBeGreaterThan(0.95)
    const restart = 'Should I restart the server after updating the config?'
    const negated = 'Should I not restart the server after updating the config?'
    expect(cosine(localEmbedding(restart), localEmbedding(negated))).toBeGreaterThan(0.95)
  })

  it('should keep unrelated prompts apart', () => {
    const a = localEmbedding('How do I reset my password?')
    expect(cosine(a, localEmbedding('Best pizza dough recipe'))).toBeLessThan(0.3)
  })
})

describe('cosine', () => {
  it('should be 1 for equal directions, 0 for orthogonal ones and -1 for opposite ones', () => {
    expect(cosine([1, 2, 3], [2, 4, 6])).toBeCloseTo(1, 12)
    expect(cosine([1, 0], [0, 5])).toBe(0)
    expect(cosine([1, 2], [-1, -2])).toBeCloseTo(-1, 12)
  })

  it('should be 0 when either vector is all zeros', () => {
    expect(cosine([0, 0], [1, 1])).toBe(0)
  })

  it('should refuse vectors of different lengths', () => {
    expect(() => cosine([1, 2], [1, 2, 3])).toThrow(/different lengths/)
  })
})
