/**
 * @module The config store in Supabase: one RPC, `gateway_resolve_key` (see
 * `migrations/postgres`), resolves a key hash to its whole config document in one round trip.
 *
 * The client runs with the service-role key (only `service_role` may execute the function), no
 * session handling, and a time limit per request; it throws on any failure so the resolver can
 * apply its failure policy.
 */
import { createClient } from '@supabase/supabase-js'
import type { KeyStore } from '..'

/** The slice of the schema the gateway calls (`migrations/postgres`). */
type Database = {
  public: {
    Tables: { [_ in never]: never }
    Views: { [_ in never]: never }
    Functions: {
      gateway_resolve_key: { Args: { p_key_hash: string }; Returns: unknown }
    }
    Enums: { [_ in never]: never }
    CompositeTypes: { [_ in never]: never }
  }
}

export type SupabaseConfig = { readonly url: string; readonly serviceRoleKey: string }

export const supabaseKeyStore = (
  { url, serviceRoleKey }: SupabaseConfig,
  timeoutMs: number,
): KeyStore => {
  const client = createClient<Database>(url, serviceRoleKey, {
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
    global: {
      fetch: (input, init) => fetch(input, { ...init, signal: AbortSignal.timeout(timeoutMs) }),
    },
  })
  return {
    async lookup(keyHash) {
      const { data, error } = await client.rpc('gateway_resolve_key', { p_key_hash: keyHash })
      if (error !== null) {
        // PostgREST's error shape carries a code and message, never our key (only its hash).
        throw new Error(`gateway_resolve_key failed: ${error.code} ${error.message}`)
      }
      return data ?? null
    },
  }
}
