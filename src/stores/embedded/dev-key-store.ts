/**
 * @module The embedded key store: one built-in dev organisation whose key is `FLOOPY_DEV_API_KEY`.
 *
 * Keys are compared as SHA-256 digests in constant time, so neither the comparison's timing nor a
 * memory dump of the comparison reveals the key.
 */
import type { KeyStore } from '..'
import type { Tenant } from '../../stages/authenticate'

export const DEV_TENANT: Tenant = { orgId: 'org_dev', keyId: 'key_dev' }

const encoder = new TextEncoder()

const sha256 = async (text: string): Promise<Uint8Array> =>
  new Uint8Array(await crypto.subtle.digest('SHA-256', encoder.encode(text)))

/** Constant-time comparison of two equal-length digests. */
export const digestsEqual = (a: Uint8Array, b: Uint8Array): boolean => {
  if (a.length !== b.length) return false
  let diff = 0
  for (let i = 0; i < a.length; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0)
  return diff === 0
}

/** How many accepted keys the per-isolate memo holds (the dev store has one; the bound is safety). */
const MEMO_SIZE = 16

export const devKeyStore = (devApiKey: string | undefined): KeyStore => {
  const expected = devApiKey === undefined ? undefined : sha256(devApiKey)
  // Accepted keys only, so a flood of wrong keys cannot evict the right one; a wrong key always
  // pays the hash and the constant-time comparison.
  const accepted = new Map<string, Tenant>()
  return {
    async resolve(presentedKey) {
      const memo = accepted.get(presentedKey)
      if (memo !== undefined) return memo
      if (expected === undefined) return undefined
      if (!digestsEqual(await sha256(presentedKey), await expected)) return undefined
      if (accepted.size >= MEMO_SIZE) accepted.clear()
      accepted.set(presentedKey, DEV_TENANT)
      return DEV_TENANT
    },
  }
}
