/**
 * @module The embedded prompt store: the prompts of the tenants file (`FLOOPY_TENANTS`, written by
 * the admin CLI's local store), answering exactly as `gateway_resolve_prompt` does in Postgres
 * (`prompts/template.ts`, `selectVersion`). Indexed once per configuration.
 */
import type { PromptStore } from '..'
import { selectVersion } from '../../prompts/template'
import type { PromptRow, PromptVersionRow, TenantsFile } from './tenants-file'

type Indexed = { prompt: PromptRow; versions: Map<number, PromptVersionRow>; numbers: number[] }

export const embeddedPromptStore = (file: TenantsFile | undefined): PromptStore => {
  const index = new Map<string, Indexed>()
  for (const prompt of file?.prompts ?? []) {
    index.set(`${prompt.org_id}\n${prompt.prompt_id}`, {
      prompt,
      versions: new Map(),
      numbers: [],
    })
  }
  const byRowId = new Map([...index.values()].map((entry) => [entry.prompt.id, entry]))
  for (const row of file?.prompt_versions ?? []) {
    const entry = byRowId.get(row.prompt)
    if (entry === undefined) continue
    entry.versions.set(row.version, row)
    entry.numbers.push(row.version)
  }
  for (const entry of index.values()) entry.numbers.sort((a, b) => a - b)

  return {
    resolve(orgId, promptId, selector) {
      const entry = index.get(`${orgId}\n${promptId}`)
      const version =
        entry === undefined
          ? undefined
          : selectVersion(entry.numbers, entry.prompt.labels, selector)
      const row = version === undefined ? undefined : entry?.versions.get(version)
      return Promise.resolve(
        row === undefined || entry === undefined
          ? null
          : { prompt_id: entry.prompt.prompt_id, version: row.version, template: row.template },
      )
    },
  }
}
