// Store flavours: switches that make the reference API behave like the stores a migration meets
// (one normalizes durations, one drops a field it does not know, one orders lists its own way,
// one lags, one does conditional writes, one assigns its own ids), plus fault knobs. Settable at start and at runtime
// through POST /_flavour.
import { z } from 'zod'

export const FlavourSchema = z.strictObject({
  /** Duration strings under keys named for, repeatInterval, groupWait or timeout are stored as seconds: "5m" becomes "300s". */
  normalizeDurations: z.boolean(),
  /** A top-level field quietly dropped on write, such as "escalationPolicyId"; null keeps every field. */
  dropField: z.string().min(1).nullable(),
  /** List pages come back in reverse id order (pagination unchanged), and arrays named receivers or labels reversed. */
  reorderLists: z.boolean(),
  /** Writes reach readers only after this many ms; until then reads see the previous state. */
  lagMs: z.int().min(0),
  /** This percentage of writes answers success but is not stored. */
  rejectWritesPercent: z.number().min(0).max(100),
  /** Added to every API response. */
  latencyMs: z.int().min(0),
  /** Share (0 to 1) of API requests answered 500. */
  errorRate: z.number().min(0).max(1),
  /** API requests per second above which it answers 429 with Retry-After: 1; 0 means no limit. */
  rateLimit: z.number().min(0),
  /**
   * The store keeps its own revision, as real stores do (a counter, a resourceVersion): every
   * write bumps it and a `version` in the body is ignored, so the two stores' versions of one
   * object never line up.
   */
  selfVersioning: z.boolean(),
  /**
   * The store does conditional requests (RFC 9110): answers with a body carry an `ETag` (a hash
   * of that body), and item PUT and DELETE honour `If-Match` and `If-None-Match` (412 when one
   * does not hold). Off, no ETag is sent and those headers are ignored.
   */
  etags: z.boolean(),
  /**
   * The store names objects itself, as Alertmanager names silences: a PUT to an item it does not
   * hold is 404, POST to the collection creates with a new id, and a POST whose body's `id` names
   * an object it holds updates that object (an unknown one is 404).
   */
  serverIds: z.boolean(),
})

export type Flavour = z.infer<typeof FlavourSchema>

/** A well-behaved store. */
export const PLAIN_FLAVOUR: Flavour = Object.freeze({
  normalizeDurations: false,
  dropField: null,
  reorderLists: false,
  lagMs: 0,
  rejectWritesPercent: 0,
  latencyMs: 0,
  errorRate: 0,
  rateLimit: 0,
  selfVersioning: false,
  etags: false,
  serverIds: false,
})

const DURATION_KEYS: ReadonlySet<string> = new Set(['for', 'repeatInterval', 'groupWait', 'timeout'])
const REORDERED_KEYS: ReadonlySet<string> = new Set(['receivers', 'labels'])

/** `current` with the keys of `change` replaced, or what is wrong with `change`. */
export function changeFlavour(current: Flavour, change: unknown): Flavour | string {
  const parsed = FlavourSchema.partial().safeParse(change)
  if (!parsed.success) {
    return parsed.error.issues.map(issue => `${issue.path.join('.') || 'flavour'}: ${issue.message}`).join('; ')
  }
  return Object.freeze({ ...current, ...parsed.data })
}

/** A write body as the flavoured store keeps it. */
export function shapeWrite(body: Record<string, unknown>, flavour: Flavour): Record<string, unknown> {
  let shaped = body
  if (flavour.dropField !== null || flavour.selfVersioning) {
    shaped = { ...body }
    if (flavour.dropField !== null) delete shaped[flavour.dropField]
    if (flavour.selfVersioning) delete shaped['version']
  }
  if (flavour.normalizeDurations) shaped = rewriteFields(shaped, DURATION_KEYS, durationInSeconds) as Record<string, unknown>
  return shaped
}

/** An object as the flavoured store answers it. */
export function shapeRead(object: object, flavour: Flavour): unknown {
  return flavour.reorderLists ? rewriteFields(object, REORDERED_KEYS, reversed) : object
}

/** A copy of `value` where every field named in `keys`, at any depth, is rewritten. */
function rewriteFields(value: unknown, keys: ReadonlySet<string>, rewrite: (field: unknown) => unknown): unknown {
  if (Array.isArray(value)) return value.map(item => rewriteFields(item, keys, rewrite))
  if (typeof value !== 'object' || value === null) return value
  const copy: Record<string, unknown> = {}
  for (const [key, field] of Object.entries(value)) {
    const walked = rewriteFields(field, keys, rewrite)
    copy[key] = keys.has(key) ? rewrite(walked) : walked
  }
  return copy
}

// Its own duration parser rather than parity's: a fixture that shared the comparison's parser
// would hide that parser's bugs from the tests it serves.
const DURATION = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+$/
const DURATION_PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/g
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/** "5m" → "300s", "1h30m" → "5400s", "250ms" → "0.25s"; anything else stays as it is. */
export function durationInSeconds(value: unknown): unknown {
  if (typeof value !== 'string' || !DURATION.test(value)) return value
  let ms = 0
  for (const [, amount, unit] of value.matchAll(DURATION_PART)) ms += Number(amount) * UNIT_MS[unit!]!
  return `${ms / 1000}s`
}

function reversed(value: unknown): unknown {
  return Array.isArray(value) ? value.toReversed() : value
}
