import { describe, expect, it } from 'vitest'
import { resolveModel } from './catalog'
import { BUILTIN_PROVIDER_IDS } from './registry'

const PROVIDER_IDS: ReadonlySet<string> = new Set([...BUILTIN_PROVIDER_IDS, 'local'])
const NO_CUSTOM: ReadonlyMap<string, string> = new Map()

describe('resolveModel', () => {
  describe('with a provider prefix', () => {
    it.each([
      ['openai/gpt-4o', 'openai', 'gpt-4o'],
      ['groq/llama-3.3-70b-versatile', 'groq', 'llama-3.3-70b-versatile'],
      ['groq/openai/gpt-oss-120b', 'groq', 'openai/gpt-oss-120b'],
      [
        'together/meta-llama/Llama-3.3-70B-Instruct-Turbo',
        'together',
        'meta-llama/Llama-3.3-70B-Instruct-Turbo',
      ],
      ['mistral/mistral-large-latest', 'mistral', 'mistral-large-latest'],
      ['deepseek/deepseek-chat', 'deepseek', 'deepseek-chat'],
      ['anthropic/claude-sonnet-4-5', 'anthropic', 'claude-sonnet-4-5'],
      ['gemini/gemini-2.5-flash', 'gemini', 'gemini-2.5-flash'],
      ['local/qwen2.5:7b', 'local', 'qwen2.5:7b'],
    ])('should send %s to %s as %s', (requested, provider, model) => {
      expect(resolveModel(requested, PROVIDER_IDS, NO_CUSTOM)).toEqual({ provider, model })
    })

    it('should pass a model the gateway has never heard of to the named provider', () => {
      expect(resolveModel('openai/gpt-7-turbo-2031', PROVIDER_IDS, NO_CUSTOM)).toEqual({
        provider: 'openai',
        model: 'gpt-7-turbo-2031',
      })
    })

    it('should not split on a first segment that is not a provider id', () => {
      expect(
        resolveModel('meta-llama/Llama-3.3-70B-Instruct-Turbo', PROVIDER_IDS, NO_CUSTOM),
      ).toEqual({ provider: 'together', model: 'meta-llama/Llama-3.3-70B-Instruct-Turbo' })
    })

    it('should not split on a provider id that is not configured', () => {
      expect(resolveModel('local/qwen', new Set(BUILTIN_PROVIDER_IDS), NO_CUSTOM)).toEqual({
        provider: 'together',
        model: 'local/qwen',
      })
    })

    it('should not take a provider id with nothing after the slash', () => {
      expect(resolveModel('openai/', PROVIDER_IDS, NO_CUSTOM)).toBeUndefined()
    })
  })

  describe('with a bare model name', () => {
    it.each([
      ['gpt-4o', 'openai'],
      ['gpt-4o-mini', 'openai'],
      ['chatgpt-4o-latest', 'openai'],
      ['o1', 'openai'],
      ['o1-mini', 'openai'],
      ['o3-mini', 'openai'],
      ['o4-mini', 'openai'],
      ['text-embedding-3-small', 'openai'],
      ['text-embedding-ada-002', 'openai'],
      ['omni-moderation-latest', 'openai'],
      ['claude-3-5-sonnet-20241022', 'anthropic'],
      ['claude-opus-4-1', 'anthropic'],
      ['gemini-2.0-flash', 'gemini'],
      ['gemini-1.5-pro', 'gemini'],
      ['gemma-3-27b-it', 'gemini'],
      ['text-embedding-004', 'gemini'],
      ['embedding-001', 'gemini'],
      ['mistral-large-latest', 'mistral'],
      ['mistral-embed', 'mistral'],
      ['codestral-latest', 'mistral'],
      ['open-mistral-nemo', 'mistral'],
      ['pixtral-12b-2409', 'mistral'],
      ['ministral-8b-latest', 'mistral'],
      ['deepseek-chat', 'deepseek'],
      ['deepseek-reasoner', 'deepseek'],
      ['llama-3.3-70b-versatile', 'groq'],
      ['llama-3.1-8b-instant', 'groq'],
      ['llama3-70b-8192', 'groq'],
      ['gemma2-9b-it', 'groq'],
      ['meta-llama/Llama-3.3-70B-Instruct-Turbo', 'together'],
      ['mistralai/Mixtral-8x7B-Instruct-v0.1', 'together'],
      ['deepseek-ai/DeepSeek-V3', 'together'],
      ['Qwen/Qwen2.5-72B-Instruct-Turbo', 'together'],
    ])('should resolve %s to %s with the name unchanged', (model, provider) => {
      expect(resolveModel(model, PROVIDER_IDS, NO_CUSTOM)).toEqual({ provider, model })
    })

    it.each(['my-model', 'llama3.2', 'ollama', 'orca-mini', '', '/gpt-4o', 'gpt4o', 'o'])(
      'should not resolve the unknown name %j',
      (model) => {
        expect(resolveModel(model, PROVIDER_IDS, NO_CUSTOM)).toBeUndefined()
      },
    )
  })

  describe('with custom models', () => {
    const custom: ReadonlyMap<string, string> = new Map([
      ['qwen2.5:7b', 'local'],
      ['llama3.2', 'local'],
    ])

    it('should resolve a declared bare name to its endpoint', () => {
      expect(resolveModel('qwen2.5:7b', PROVIDER_IDS, custom)).toEqual({
        provider: 'local',
        model: 'qwen2.5:7b',
      })
      expect(resolveModel('llama3.2', PROVIDER_IDS, custom)).toEqual({
        provider: 'local',
        model: 'llama3.2',
      })
    })

    it('should still honour an explicit provider prefix over a custom name', () => {
      expect(resolveModel('groq/llama3.2', PROVIDER_IDS, custom)).toEqual({
        provider: 'groq',
        model: 'llama3.2',
      })
    })

    it('should leave names that are not declared to the family patterns', () => {
      expect(resolveModel('gpt-4o', PROVIDER_IDS, custom)).toEqual({
        provider: 'openai',
        model: 'gpt-4o',
      })
      expect(resolveModel('qwen2.5:14b', PROVIDER_IDS, custom)).toBeUndefined()
    })
  })
})
