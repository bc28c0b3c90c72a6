/**
 * @module Which source file a place in a bundle came from, so a profile's frame can be charged to
 * the file it was written in. Shared by `bench/profile.ts` (V8's sampler) and
 * `bench/profile-native.ts` (perf).
 *
 * The gateway's bundle is minified (`minify` in wrangler.toml), so its source map says where each
 * place came from; a bundle without a map beside it (`<bundle>.map`: an unminified older build, a
 * bare variant) is read by esbuild's `// src/…` or `// node_modules/…` comments, which mark where
 * each file begins.
 */
import { existsSync, readFileSync } from 'node:fs'
import { SourceMap, type SourceMapPayload } from 'node:module'

/** Where each source file begins in `bundle`: [zero-based line, file], in order. */
const fileStarts = (bundle: string): [number, string][] => {
  const starts: [number, string][] = []
  readFileSync(bundle, 'utf8')
    .split('\n')
    .forEach((line, i) => {
      const match = /^\/\/ (\S+\.(?:ts|js|mjs|cjs))$/.exec(line)
      if (match?.[1] !== undefined) starts.push([i, match[1]])
    })
  return starts
}

/** The source file of a zero-based bundle line, by the last `// path` marker at or before it. */
const byMarkers = (bundle: string, fallback: string): ((line: number) => string) => {
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

/** A place in the source: the file (named from the repository's root) and its line (from 1). */
export type Place = { readonly file: string; readonly line: number }

/**
 * The source place of a zero-based line and column of `bundle`: its file (`src/app.ts`,
 * `node_modules/zod/…`) and line; `fallback` and the bundle's line where neither the map nor a
 * marker says.
 */
export const placeAt = (
  bundle: string,
  fallback: string,
): ((line: number, column: number) => Place) => {
  const mapFile = `${bundle}.map`
  if (!existsSync(mapFile)) {
    const atLine = byMarkers(bundle, fallback)
    return (line) => ({ file: atLine(line), line: line + 1 })
  }
  const map = new SourceMap(JSON.parse(readFileSync(mapFile, 'utf8')) as SourceMapPayload)
  const named = new Map<string, string>()
  return (line, column) => {
    const entry = map.findEntry(line, column) as { originalSource?: string; originalLine?: number }
    const source = entry.originalSource
    if (source === undefined) return { file: fallback, line: line + 1 }
    let file = named.get(source)
    if (file === undefined) {
      // The map's paths are relative to where wrangler built, not to the map: name them from the
      // first `src/` or `node_modules/` on, as the markers do.
      file = /(?:^|\/)((?:node_modules|src)\/.*)$/.exec(source)?.[1] ?? source
      named.set(source, file)
    }
    return { file, line: (entry.originalLine ?? 0) + 1 }
  }
}
