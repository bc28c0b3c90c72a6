/** @module Starts the fake providers for the `worker` project and hands their URL to the tests. */
import type { TestProject } from 'vitest/node'
import { startFakeProviders } from './fake-providers.ts'

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const fake = await startFakeProviders()
  project.provide('fakeProvidersUrl', fake.url)
  return async () => {
    await fake.close()
  }
}
