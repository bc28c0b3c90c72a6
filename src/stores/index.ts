/**
 * @module Ports for shared state, and the choice of adapters made once per configuration.
 *
 * Stages get their I/O through these interfaces only, so a stage's unit test needs no binding and
 * a production adapter (Upstash, Supabase, …) replaces an embedded one without touching a stage.
 */
import type { GatewayConfig } from '../env'
import type { Tenant } from '../stages/authenticate'
import { devKeyStore } from './embedded/dev-key-store'

/** Resolves a presented API key to its tenant; `undefined` means the key is not valid. */
export interface KeyStore {
  resolve(presentedKey: string): Promise<Tenant | undefined>
}

export type Stores = { readonly keys: KeyStore }

const memo = new WeakMap<GatewayConfig, Stores>()

/** The adapters for a configuration. With no config store configured: the embedded default. */
export const storesFor = (config: GatewayConfig): Stores => {
  let stores = memo.get(config)
  if (stores === undefined) {
    stores = { keys: devKeyStore(config.devApiKey) }
    memo.set(config, stores)
  }
  return stores
}
