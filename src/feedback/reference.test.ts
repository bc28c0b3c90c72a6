import { describe, expect, it } from 'vitest'
import {
  FEEDBACK_WINDOW_SECONDS,
  readReference,
  referenceKey,
  ruleTag,
  signReference,
  type Served,
} from './reference'

const key = () => referenceKey(new Uint8Array(32).fill(7))
const otherKey = () => referenceKey(new Uint8Array(32).fill(8))

const NOW = 1_800_000_000
const served: Served = {
  orgId: 'org_acme',
  rule: ruleTag({ apiKeyId: null, model: null }),
  target: 'together/meta-llama/Llama-3.3-70B-Instruct-Turbo',
  entry: '',
  at: NOW,
}

describe('a request reference', () => {
  it('should read back what it was signed with, for its organisation', async () => {
    const ref = await signReference(await key(), served)
    expect(ref).toMatch(/^fr1(\.[A-Za-z0-9_-]+){6}$/)
    expect(await readReference(await key(), ref, 'org_acme', NOW + 60)).toEqual(served)
  })

  it('should carry a cache entry and no rule or target', async () => {
    const hit = { ...served, rule: '', entry: 'default:e:AbC_-123' }
    const ref = await signReference(await key(), hit)
    expect(await readReference(await key(), ref, 'org_acme', NOW)).toEqual(hit)
  })

  it('should spell the target in base64url, unpadded, for every length', async () => {
    for (let length = 1; length <= 40; length++) {
      const target = `openai/${'é4'.repeat(length).slice(0, length)}`
      const ref = await signReference(await key(), { ...served, target })
      const bytes = new TextEncoder().encode(target)
      const expected = btoa(String.fromCharCode(...bytes))
        .replace(/\+/g, '-')
        .replace(/\//g, '_')
        .replace(/=+$/, '')
      expect(ref.split('.')[4]).toBe(expected)
      expect((await readReference(await key(), ref, 'org_acme', NOW))?.target).toBe(target)
    }
  })

  it('should be unique per request', async () => {
    const refs = await Promise.all(
      Array.from({ length: 50 }, async () => signReference(await key(), served)),
    )
    expect(new Set(refs).size).toBe(50)
  })

  it('should not name the organisation', async () => {
    const ref = await signReference(await key(), served)
    expect(ref).not.toContain('acme')
    expect(atob(ref.split('.')[4]?.replace(/-/g, '+').replace(/_/g, '/') ?? '')).toBe(served.target)
  })

  it('should be refused for another organisation, another key, or any change', async () => {
    const ref = await signReference(await key(), served)
    const parts = ref.split('.')
    const changed = (i: number, value: string) =>
      [...parts.slice(0, i), value, ...parts.slice(i + 1)].join('.')
    const refused = [
      readReference(await key(), ref, 'org_other', NOW),
      readReference(await otherKey(), ref, 'org_acme', NOW),
      readReference(
        await key(),
        changed(4, btoa('openai/gpt-4o').replace(/=+$/, '')),
        'org_acme',
        NOW,
      ),
      readReference(await key(), changed(3, '-'), 'org_acme', NOW),
      readReference(await key(), changed(1, (NOW + 1).toString(36)), 'org_acme', NOW),
      readReference(await key(), changed(6, 'A'.repeat(22)), 'org_acme', NOW),
      readReference(await key(), ref.replace('fr1', 'fr2'), 'org_acme', NOW),
      readReference(await key(), `${ref}.x`, 'org_acme', NOW),
      readReference(await key(), crypto.randomUUID(), 'org_acme', NOW),
      readReference(await key(), '', 'org_acme', NOW),
    ]
    for (const answer of await Promise.all(refused)) expect(answer).toBeUndefined()
  })

  it('should take feedback for 30 days, and none from the future', async () => {
    const ref = await signReference(await key(), served)
    expect(
      await readReference(await key(), ref, 'org_acme', NOW + FEEDBACK_WINDOW_SECONDS),
    ).toEqual(served)
    expect(
      await readReference(await key(), ref, 'org_acme', NOW + FEEDBACK_WINDOW_SECONDS + 1),
    ).toBeUndefined()
    expect(await readReference(await key(), ref, 'org_acme', NOW - 3_600)).toBeUndefined()
  })
})

describe('a rule tag', () => {
  it('should follow the rule’s scope, and tell scopes apart', () => {
    const any = ruleTag({ apiKeyId: null, model: null })
    expect(any).toMatch(/^r[0-9a-z]{14}$/)
    expect(ruleTag({ apiKeyId: null, model: null })).toBe(any)
    const tags = new Set([
      any,
      ruleTag({ apiKeyId: 'key_1', model: null }),
      ruleTag({ apiKeyId: null, model: 'gpt-4o' }),
      ruleTag({ apiKeyId: 'key_1', model: 'gpt-4o' }),
    ])
    expect(tags.size).toBe(4)
  })
})
