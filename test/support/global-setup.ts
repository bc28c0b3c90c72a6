/**
 * @module Starts what the `worker` project's Worker reaches over loopback — the fake providers and
 * the request log's ClickHouse (a real engine: chdb behind ClickHouse's HTTP interface, with
 * `migrations/clickhouse` applied) — and hands their URLs to the tests.
 */
import type { TestProject } from 'vitest/node'
import { applyClickHouseMigrations, startClickHouse } from './clickhouse.ts'
import { CLICKHOUSE_PASSWORD, CLICKHOUSE_USER } from './bindings.ts'
import { startFakeProviders } from './fake-providers.ts'

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const fake = await startFakeProviders()
  const clickhouse = await startClickHouse({
    username: CLICKHOUSE_USER,
    password: CLICKHOUSE_PASSWORD,
  })
  await applyClickHouseMigrations(clickhouse)
  project.provide('fakeProvidersUrl', fake.url)
  project.provide('clickhouseUrl', clickhouse.url)
  project.provide('clickhouseControlUrl', clickhouse.controlUrl)
  return async () => {
    await fake.close()
    await clickhouse.close()
  }
}
