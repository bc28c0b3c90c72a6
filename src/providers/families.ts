/** @module The adapter of each provider family. */
import type { ProviderFamily } from '../types'
import type { ProviderAdapter } from './adapter'
import { anthropic } from './anthropic'
import { bedrock } from './bedrock'
import { gemini } from './gemini'
import { openAICompatible } from './openai-compatible'

const ADAPTERS: Readonly<Record<ProviderFamily, ProviderAdapter>> = {
  'openai-compatible': openAICompatible,
  anthropic,
  gemini,
  bedrock,
}

export const adapterFor = (family: ProviderFamily): ProviderAdapter => ADAPTERS[family]
