/**
 * @module The semantic tier's vectors in the isolate's memory, searched by brute force: the
 * embedded default (`npm run dev`), filtering exactly as the Qdrant adapter does.
 */
import type { VectorPoint, VectorStore } from '..'
import { cosine } from '../../cache/embedder'

/** The most points kept; the oldest go first. */
const MAX_POINTS = 5_000

export const memoryVectorStore = (): VectorStore => {
  const points = new Map<string, VectorPoint>()
  return {
    nearest(vector, { org, scope, now }, threshold) {
      let best: { id: string; score: number; entry: string } | undefined
      for (const point of points.values()) {
        const { payload } = point
        if (payload.org !== org || payload.scope !== scope) continue
        if (payload.expires_at <= Math.floor(now / 1000)) continue
        if (point.vector.length !== vector.length) continue
        const score = cosine(vector, point.vector)
        if (score >= threshold && (best === undefined || score > best.score)) {
          best = { id: point.id, score, entry: payload.entry }
        }
      }
      return Promise.resolve(best)
    },
    upsert(point) {
      points.delete(point.id)
      if (points.size >= MAX_POINTS) {
        const oldest = points.keys().next()
        if (oldest.done !== true) points.delete(oldest.value)
      }
      points.set(point.id, point)
      return Promise.resolve()
    },
    remove(id) {
      points.delete(id)
      return Promise.resolve()
    },
  }
}
