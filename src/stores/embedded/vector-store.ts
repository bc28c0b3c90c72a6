/**
 * @module The semantic tier's vectors in the isolate's memory, searched by brute force: the
 * embedded default (`npm run dev`), filtering exactly as the Qdrant adapter does.
 *
 * Points are kept per organisation and scope, so a search compares only the points it may answer
 * (another tenant's or conversation's never cost it a multiplication), and each point's norm is
 * computed once, when written: a comparison is one dot product.
 */
import type { VectorPoint, VectorStore } from '..'

/** The most points kept, over all scopes; the oldest written go first. */
const MAX_POINTS = 5_000

type Stored = { readonly point: VectorPoint; readonly norm: number; readonly group: string }

const norm = (vector: Float32Array): number => {
  let sum = 0
  for (let i = 0; i < vector.length; i++) sum += (vector[i] ?? 0) * (vector[i] ?? 0)
  return Math.sqrt(sum)
}

const groupOf = (org: string, scope: string): string => `${org}\n${scope}`

export const memoryVectorStore = (): VectorStore => {
  /** Every point by id, in the order written (a `Map` keeps it): the eviction order. */
  const points = new Map<string, Stored>()
  const groups = new Map<string, Set<Stored>>()

  const drop = (stored: Stored): void => {
    points.delete(stored.point.id)
    const group = groups.get(stored.group)
    group?.delete(stored)
    if (group?.size === 0) groups.delete(stored.group)
  }

  return {
    nearest(vector, { org, scope, now }, threshold) {
      const group = groups.get(groupOf(org, scope))
      if (group === undefined) return Promise.resolve(undefined)
      const queryNorm = norm(vector)
      const seconds = Math.floor(now / 1000)
      let best: { id: string; score: number; entry: string } | undefined
      for (const { point, norm: pointNorm } of group) {
        if (point.payload.expires_at <= seconds) continue
        const other = point.vector
        if (other.length !== vector.length) continue
        let dot = 0
        for (let i = 0; i < vector.length; i++) dot += (vector[i] ?? 0) * (other[i] ?? 0)
        const score = queryNorm === 0 || pointNorm === 0 ? 0 : dot / (queryNorm * pointNorm)
        if (score >= threshold && (best === undefined || score > best.score)) {
          best = { id: point.id, score, entry: point.payload.entry }
        }
      }
      return Promise.resolve(best)
    },
    upsert(point) {
      const previous = points.get(point.id)
      if (previous !== undefined) drop(previous)
      if (points.size >= MAX_POINTS) {
        const oldest = points.values().next()
        if (oldest.done !== true) drop(oldest.value)
      }
      const stored: Stored = {
        point,
        norm: norm(point.vector),
        group: groupOf(point.payload.org, point.payload.scope),
      }
      points.set(point.id, stored)
      const group = groups.get(stored.group)
      if (group === undefined) groups.set(stored.group, new Set([stored]))
      else group.add(stored)
      return Promise.resolve()
    },
    remove(id) {
      const stored = points.get(id)
      if (stored !== undefined) drop(stored)
      return Promise.resolve()
    },
  }
}
