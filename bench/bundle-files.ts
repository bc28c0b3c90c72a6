/**
 * @module Which source file a line of a bundle came from: esbuild marks where each file begins
 * with a `// src/…` or `// node_modules/…` comment, so a profile's frame (bundle line) can be
 * charged to the file it was written in. Shared by `bench/profile.ts` (V8's sampler) and
 * `bench/profile-native.ts` (perf).
 */
import { readFileSync } from 'node:fs'

/** Where each source file begins in `bundle`: [zero-based line, file], in order. */
export const fileStarts = (bundle: string): [number, string][] => {
  const starts: [number, string][] = []
  readFileSync(bundle, 'utf8')
    .split('\n')
    .forEach((line, i) => {
      const match = /^\/\/ (\S+\.(?:ts|js|mjs|cjs))$/.exec(line)
      if (match?.[1] !== undefined) starts.push([i, match[1]])
    })
  return starts
}

/** The source file of a zero-based bundle line: the last marker at or before it. */
export const fileAtLine = (bundle: string, fallback: string): ((line: number) => string) => {
  const starts = fileStarts(bundle)
  return (line) => {
    let file = fallback
    for (const [start, marked] of starts) {
      if (start > line) break
      file = marked
    }
    return file
  }
}
