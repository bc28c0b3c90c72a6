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

export const devKeyStore = (devApiKey: string | undefined): KeyStore => {
  const expected = devApiKey === undefined ? undefined : sha256(devApiKey)
  return {
    async resolve(presentedKey) {
      if (expected === undefined) return undefined
      return digestsEqual(await sha256(presentedKey), await expected) ? DEV_TENANT : undefined
    },
  }
}
