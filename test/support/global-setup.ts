/** @module Starts the fake providers for the `worker` project and hands their URL to the tests. */
import type { TestProject } from 'vitest/node'

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // Placeholder replaced by the fake providers (test/support/fake-providers.ts).
  project.provide('fakeProvidersUrl', 'http://127.0.0.1:9')
  return async () => {}
}
