// The evidence of one slice (rule × resource type) as counters that add up across replicas and
// time buckets: how comparisons came out, how often each side failed, and each side's latency as
// a histogram. Plain data; a counter set is a map from field name to count.

export const OUTCOMES = ['match', 'cosmetic', 'critical', 'lag'] as const
export type Outcome = typeof OUTCOMES[number]

/** Latency histogram bounds (ms): each 1.25× the one before, from 0.5 ms to about 60 s. */
export const LATENCY_BOUNDS_MS: readonly number[] = Array.from({ length: 53 }, (_, i) => 0.5 * 1.25 ** i)

/** Counters keyed `${rule}\u0000${resourceType}\u0000${counter}`. */
export type Fields = Map<string, number>

/**
 * One shadow pair: both answers compared (`outcome`), or one side failed (`failed`), with the
 * latency of each side that answered.
 */
export interface Observation {
  rule: string
  resourceType: string
  outcome?: Outcome
  /** The sides that failed (an error, a timeout, a 5xx, an answer that cannot be read). */
  failed?: ReadonlyArray<'old' | 'new'>
  latencyMs?: { old?: number, new?: number }
}

export interface SliceCounts {
  rule: string
  resourceType: string
  /** Comparisons of two real answers: the samples gates count. */
  results: Record<Outcome, number>
  samples: number
  /** Pairs in which a side failed (an error, a timeout): never samples. */
  errors: { old: number, new: number }
  latency: { old: number[], new: number[] }
}

const slicePrefix = (rule: string, resourceType: string) => `${rule}\u0000${resourceType}\u0000`

/** A slice's field names, made once: built per observation, each of a pair's three names was a new string to hash on every Map lookup; now only the slice's key is. */
interface SliceFields {
  outcome: Record<Outcome, string>
  failed: Record<'old' | 'new', string>
  /** By side, by latency bucket. */
  latency: Record<'old' | 'new', string[]>
}

/** Field names per slice; slices are the policy's rules × resource types, and a bound keeps a stray one from growing it. */
const sliceFields = new Map<string, SliceFields>()
const MAX_CACHED_SLICES = 1000

function fieldsOf(rule: string, resourceType: string): SliceFields {
  const prefix = slicePrefix(rule, resourceType)
  let f = sliceFields.get(prefix)
  if (f) return f
  const latency = (side: 'old' | 'new') => Array.from({ length: LATENCY_BOUNDS_MS.length + 1 }, (_, i) => `${prefix}lat:${side}:${i}`)
  f = {
    outcome: Object.fromEntries(OUTCOMES.map(o => [o, prefix + o])) as Record<Outcome, string>,
    failed: { old: `${prefix}err:old`, new: `${prefix}err:new` },
    latency: { old: latency('old'), new: latency('new') },
  }
  if (sliceFields.size >= MAX_CACHED_SLICES) sliceFields.clear()
  sliceFields.set(prefix, f)
  return f
}

function bump(into: Fields, field: string): void {
  into.set(field, (into.get(field) ?? 0) + 1)
}

/** Adds one observation to `into`. */
export function addObservation(into: Fields, o: Observation): void {
  const f = fieldsOf(o.rule, o.resourceType)
  if (o.outcome) bump(into, f.outcome[o.outcome])
  for (const side of o.failed ?? []) bump(into, f.failed[side])
  for (const side of ['old', 'new'] as const) {
    const ms = o.latencyMs?.[side]
    if (ms !== undefined) bump(into, f.latency[side][latencyBucket(ms)]!)
  }
}

/** Adds `from` into `into`. */
export function addFields(into: Fields, from: Iterable<[string, number]>): void {
  for (const [field, n] of from) into.set(field, (into.get(field) ?? 0) + n)
}

export function latencyBucket(ms: number): number {
  const i = LATENCY_BOUNDS_MS.findIndex(bound => ms <= bound)
  return i === -1 ? LATENCY_BOUNDS_MS.length : i
}

/** The slices present in `fields`, with their counts. */
export function slicesOf(fields: Fields): SliceCounts[] {
  const slices = new Map<string, SliceCounts>()
  for (const [field, n] of fields) {
    const [rule = '', resourceType = '', counter = ''] = field.split('\u0000')
    const key = slicePrefix(rule, resourceType)
    let s = slices.get(key)
    if (!s) {
      s = { rule, resourceType, results: { match: 0, cosmetic: 0, critical: 0, lag: 0 }, samples: 0, errors: { old: 0, new: 0 }, latency: { old: [], new: [] } }
      slices.set(key, s)
    }
    if ((OUTCOMES as readonly string[]).includes(counter)) {
      s.results[counter as Outcome] += n
      s.samples += n
    } else if (counter === 'err:old' || counter === 'err:new') {
      s.errors[counter.slice(4) as 'old' | 'new'] += n
    } else if (counter.startsWith('lat:')) {
      const [, side, bucket] = counter.split(':') as [string, 'old' | 'new', string]
      const histogram = s.latency[side]
      histogram[Number(bucket)] = (histogram[Number(bucket)] ?? 0) + n
    }
  }
  return [...slices.values()]
}

/** The q-quantile (0..1) of a histogram, interpolated inside its bucket; undefined when empty. */
export function quantileMs(histogram: number[], q: number): number | undefined {
  // reduce skips the holes of a sparse histogram.
  const total = histogram.reduce((a, b) => a + b, 0)
  if (total === 0) return undefined
  const rank = q * total
  let i = 0
  let seen = 0
  while (seen + (histogram[i] ?? 0) < rank) seen += histogram[i++] ?? 0
  const n = histogram[i] ?? 0
  const low = i === 0 ? 0 : LATENCY_BOUNDS_MS[i - 1]!
  const high = LATENCY_BOUNDS_MS[i] ?? low * 1.25
  return n === 0 ? low : low + (high - low) * ((rank - seen) / n)
}
