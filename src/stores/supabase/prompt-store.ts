/**
 * @module Prompts in Supabase: one RPC, `gateway_resolve_prompt` (`migrations/postgres`), answers
 * the version a selector picks of an organisation's prompt in one round trip (SQL null: none).
 *
 * Same client as the key store: the service-role key (only `service_role` may execute the
 * function), no session handling, a time limit per request. Any failure throws — never `null`,
 * which means "no such prompt" — so the caller can fall back to what it cached.
 */
import { createClient } from '@supabase/supabase-js'
import type { PromptStore } from '..'
import type { SupabaseConfig } from './key-store'

/** The slice of the schema the gateway calls (`migrations/postgres`). */
type Database = {
  public: {
    Tables: { [_ in never]: never }
    Views: { [_ in never]: never }
    Functions: {
      gateway_resolve_prompt: {
        Args: { p_org_id: string; p_prompt_id: string; p_selector: string | null }
        Returns: unknown
      }
    }
    Enums: { [_ in never]: never }
    CompositeTypes: { [_ in never]: never }
  }
}

export const supabasePromptStore = (
  { url, serviceRoleKey }: SupabaseConfig,
  timeoutMs: number,
): PromptStore => {
  const client = createClient<Database>(url, serviceRoleKey, {
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
    global: {
      fetch: (input, init) => fetch(input, { ...init, signal: AbortSignal.timeout(timeoutMs) }),
    },
  })
  return {
    async resolve(orgId, promptId, selector) {
      const { data, error } = await client.rpc('gateway_resolve_prompt', {
        p_org_id: orgId,
        p_prompt_id: promptId,
        p_selector: selector ?? null,
      })
      if (error !== null) {
        // PostgREST's code and message; they quote no template.
        throw new Error(`gateway_resolve_prompt failed: ${error.code} ${error.message}`)
      }
      return data ?? null
    },
  }
}
