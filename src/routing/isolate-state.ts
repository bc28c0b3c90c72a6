/**
 * @module Routing state kept in one isolate's memory (round-robin positions, latency, circuit
 * breakers), bounded: a map that would pass its size starts over rather than grow without limit.
 * Losing it costs a rotation restart or a re-learned latency, never a wrong answer.
 */

/** Entries per map: far more targets and rules than one isolate serves. */
const MAX_ENTRIES = 10_000

/** Sets `key`, first emptying the map if a new key would pass the bound. */
export const setBounded = <K, V>(map: Map<K, V>, key: K, value: V): void => {
  if (map.size >= MAX_ENTRIES && !map.has(key)) map.clear()
  map.set(key, value)
}
