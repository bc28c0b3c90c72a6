// @ts-check
import eslint from '@eslint/js'
import tseslint from 'typescript-eslint'

/**
 * `import { z }` brings zod's whole namespace, every locale included, into the Worker's bundle
 * (about 560 KB more than `import * as z`, which the bundler can shake).
 */
const zodNamespace = {
  selector: "ImportDeclaration[source.value='zod'] > ImportSpecifier[imported.name='z']",
  message: "Use `import * as z from 'zod'`: the named `z` bundles every locale.",
}

export default tseslint.config(
  {
    ignores: [
      'node_modules',
      'dist',
      '.wrangler',
      '.bench',
      'worker-configuration.d.ts',
      'test/fixtures',
      '.dependency-cruiser.cjs',
    ],
  },
  eslint.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        project: ['./tsconfig.json', './tsconfig.node.json'],
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-restricted-syntax': ['error', zodNamespace],
    },
  },
  {
    // The Worker's own code runs per request: the rule above, and one for its allocations.
    files: ['src/**/*.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        zodNamespace,
        {
          // A literal's getter or setter gets an accessor pair of its own, which V8 allocates in
          // its old generation: one per request kept each request's objects alive through every
          // scavenge (bench/REPORT.md, "2026-12-08"). A class's accessor is its prototype's.
          selector:
            "ObjectExpression > Property[kind='get'], ObjectExpression > Property[kind='set']",
          message:
            'No getters or setters in object literals: use a method, a plain field, or a class.',
        },
      ],
    },
  },
  { files: ['**/*.js', '**/*.cjs'], ...tseslint.configs.disableTypeChecked },
)
