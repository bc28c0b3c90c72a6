/**
 * The structure `src/` keeps, checked by `npm run lint` (dependency-cruiser): no import circle,
 * type imports included, and none of the imports the design rules out (docs/ARCHITECTURE.md,
 * "Layout"). A rule broken here names the two files.
 */
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'An import circle, type imports included: move the shared type down a floor.',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'ground-floor-imports-nothing',
      severity: 'error',
      comment:
        'src/types.ts is the ground floor: everything may stand on it, it stands on nothing.',
      from: { path: '^src/types\\.ts$' },
      to: { path: '^src/' },
    },
    {
      name: 'only-the-app-knows-the-stages',
      severity: 'error',
      comment:
        'Stages are glue at the top, under the app and its routes: providers, routing, tenancy, ' +
        'prompts, cache, stores, security, logging, config and errors know no pipeline.',
      from: {
        path: '^src/(providers|routing|tenancy|stores|security|logging|prompts|cache)/|^src/(config|env|errors|types)\\.ts$',
      },
      to: { path: '^src/stages/' },
    },
    {
      name: 'providers-know-no-log-and-no-state',
      severity: 'error',
      comment: 'The log and the cache tap answers; adapters know neither, nor any store.',
      from: { path: '^src/providers/' },
      to: { path: '^src/(logging|stores)/' },
    },
    {
      name: 'rules-use-ports-not-adapters',
      severity: 'error',
      comment: 'Tenancy and routing reach state through the ports (src/stores/index.ts) only.',
      from: { path: '^src/(tenancy|routing)/' },
      to: { path: '^src/stores/.+/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '\\.test\\.ts$|^src/providers/gemini/test-fixtures\\.ts$' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js', '.json'] },
  },
}
