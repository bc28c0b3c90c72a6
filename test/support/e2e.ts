/**
 * @module Shared set-up of the end-to-end suites: the fake providers and the production bundle
 * under plain workerd, configured with the test bindings, started once per suite; an openai SDK
 * client pointed at it; and the OpenAI-spec assertion every answer goes through.
 */
import OpenAI from 'openai'
import { afterAll, beforeAll, expect } from 'vitest'
import { startGateway, type WorkerdGateway } from '../../scripts/workerd.ts'
import { TEST_DEV_API_KEY, workerTestBindings } from './bindings.ts'
import { startFakeProviders, type FakeProviders } from './fake-providers.ts'
import { validateOpenAI } from './openapi.ts'

export type E2E = {
  readonly fake: FakeProviders
  readonly gateway: WorkerdGateway
  /** The official SDK, pointed at the gateway with the dev key (no retries: tests see each try). */
  readonly client: OpenAI
}

/** Starts the fakes and the gateway before the suite's tests and stops them after. */
export const useGateway = (): (() => E2E) => {
  let e2e: E2E | undefined
  beforeAll(async () => {
    const fake = await startFakeProviders()
    const gateway = await startGateway({ bindings: workerTestBindings(fake.url) })
    const client = new OpenAI({
      baseURL: `${gateway.url}/v1`,
      apiKey: TEST_DEV_API_KEY,
      maxRetries: 0,
    })
    e2e = { fake, gateway, client }
  })
  afterAll(async () => {
    await e2e?.gateway.close()
    await e2e?.fake.close()
  })
  return () => {
    if (e2e === undefined)
      throw new Error('the gateway is not started (call useGateway at suite level)')
    return e2e
  }
}

/** Asserts `value` is valid under the OpenAI spec's schema `schema`, showing it when not. */
export const expectValid = (schema: string, value: unknown): void => {
  expect(
    validateOpenAI(schema, value),
    `${schema}: ${JSON.stringify(value).slice(0, 400)}`,
  ).toEqual([])
}
