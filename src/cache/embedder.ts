/**
 * @module A deterministic local embedder: hashed word unigrams and character trigrams with signed
 * hashing (the "hashing trick", Weinberger et al., 2009), L2-normalised. Pure, no model, no I/O.
 *
 * It is the embedder of `npm run dev` when no embedding model is configured, and the embedder of
 * the tests: no npm package ships embedding weights, and model hubs are not reachable from CI
 * (specs/cache/NOTES.md). It is not a model of meaning. Synonyms share only the trigrams they
 * happen to share, and a prompt and its negation share everything but one short word, so
 * "turn on dark mode" and "turn off dark mode" score high. That is the case the contradiction
 * guard (`guard.ts`) must catch, with this embedder as with a real one.
 *
 * Features, for each word of the lower-cased NFKC text (runs of letters and digits, see
 * {@link embeddingWords}):
 * - the word itself, weight 1;
 * - the character trigrams of `^word$` (so a one-letter word still has one), weight 1/2 each, so
 *   spelling variants and inflections ("delete"/"deleting") keep most of their overlap;
 * - both scaled by 1/4 for English function words (NLTK's stop-word list: "the", "how", "can",
 *   "not", "before", "more"), the way IDF would weigh them in any corpus, so "how do I …" and "how
 *   can I …" stay close. This also lowers the weight of negations and of words like "before" and
 *   "more": again the guard's job.
 * Number words are read as digits ("three" as `3`) and `%` as `percent`.
 * Each feature is hashed (FNV-1a, then the murmur3 finaliser) to a dimension and a sign; signed
 * hashing keeps collisions from adding up in one direction.
 */

const TRIGRAM_WEIGHT = 0.5
const FUNCTION_WORD_WEIGHT = 0.25

/** NLTK's English stop-word list (contractions without apostrophes), `cannot` and `please`. */
const FUNCTION_WORDS: ReadonlySet<string> = new Set(
  [
    'i me my myself we our ours ourselves you youre youve youll youd your yours yourself',
    'yourselves he him his himself she shes her hers herself it its itself they them their theirs',
    'themselves what which who whom this that thatll these those am is are was were be been being',
    'have has had having do does did doing a an the and but if or because as until while of at by',
    'for with about against between into through during before after above below to from up down',
    'in out on off over under again further then once here there when where why how all any both',
    'each few more most other some such no nor not only own same so than too very s t can will',
    'just don dont should shouldve now d ll m o re ve y ain aren arent couldn couldnt didn didnt',
    'doesn doesnt hadn hadnt hasn hasnt haven havent isn isnt ma mightn mightnt mustn mustnt needn',
    'neednt shan shant shouldn shouldnt wasn wasnt weren werent won wont wouldn wouldnt',
    'cannot please',
  ]
    .join(' ')
    .split(' '),
)

/**
 * Number words as digits, so "three tips" and "3 tips" embed alike (the guard reads them as
 * equal too); `%` as the word `percent`.
 */
const NUMBER_WORDS: ReadonlyMap<string, string> = new Map(
  [
    'zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen',
    'fifteen sixteen seventeen eighteen nineteen twenty',
  ]
    .join(' ')
    .split(' ')
    .map((word, value): [string, string] => [word, String(value)])
    .concat(
      'thirty forty fifty sixty seventy eighty ninety'
        .split(' ')
        .map((word, i): [string, string] => [word, String((i + 3) * 10)]),
      [
        ['hundred', '100'],
        ['thousand', '1000'],
        ['million', '1000000'],
      ],
    ),
)

// One character each: nothing to backtrack over.
const WORD_CHAR = /^[\p{L}\p{M}\p{N}]$/u

/**
 * The words of `text`: lower case, NFKC, runs of letters and digits. An apostrophe splits a word,
 * as the tokenisers NLTK's list was made for do: "don't" is `don` `t`, "why's" is `why` `s`.
 */
export const embeddingWords = (text: string): string[] => {
  const words: string[] = []
  let current = ''
  const flush = (): void => {
    if (current !== '') words.push(NUMBER_WORDS.get(current) ?? current)
    current = ''
  }
  for (const c of text.normalize('NFKC').toLowerCase()) {
    if (WORD_CHAR.test(c)) current += c
    else {
      flush()
      if (c === '%') words.push('percent')
    }
  }
  flush()
  return words
}

/** 32-bit FNV-1a over UTF-16 code units, then the murmur3 finaliser for the low bits' sake. */
const hash = (text: string): number => {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/**
 * The embedding of `text`: `dimensions` floats, unit length (all zeros when `text` has no word).
 * Equal texts give equal vectors on every run and every engine (integer hashing only).
 */
export const localEmbedding = (text: string, dimensions = 256): Float32Array => {
  if (!Number.isInteger(dimensions) || dimensions < 1) {
    throw new Error(`localEmbedding: dimensions must be a positive integer, got ${dimensions}`)
  }
  const sums = new Float64Array(dimensions)
  const add = (feature: string, weight: number): void => {
    const h = hash(feature)
    // The top bit gives the sign; the index comes from the low bits.
    sums[h % dimensions] = (sums[h % dimensions] ?? 0) + (h >>> 31 === 1 ? -weight : weight)
  }
  for (const word of embeddingWords(text)) {
    const scale = FUNCTION_WORDS.has(word) ? FUNCTION_WORD_WEIGHT : 1
    add(`w:${word}`, scale)
    const padded = Array.from(`^${word}$`)
    for (let i = 0; i + 3 <= padded.length; i++) {
      add(`t:${padded.slice(i, i + 3).join('')}`, scale * TRIGRAM_WEIGHT)
    }
  }
  let norm = 0
  for (const x of sums) norm += x * x
  norm = Math.sqrt(norm)
  const vector = new Float32Array(dimensions)
  if (norm > 0) sums.forEach((x, i) => (vector[i] = x / norm))
  return vector
}

/** Cosine similarity of two vectors of one length; 0 when either is all zeros. */
export const cosine = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  if (a.length !== b.length) {
    throw new Error(`cosine: vectors of different lengths (${a.length} and ${b.length})`)
  }
  let dot = 0
  let na = 0
  let nb = 0
  for (let i = 0; i < a.length; i++) {
    const x = a[i] ?? 0
    const y = b[i] ?? 0
    dot += x * y
    na += x * x
    nb += y * y
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb)
}
