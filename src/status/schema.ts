// The /status document, declared once: the admin servers build it to this schema (the types
// below are what their builders return), the CLI and the demo parse what an admin URL answers
// with it, and /status/schema serves it as JSON Schema for /ui and for anyone scripting against
// it. A proxy's document and a sync process's differ; `role` tells them apart.
import { z } from 'zod'
import { side } from '../policy/schema.ts'
import { MIGRATION_PHASES } from '../policy/migration-phase.ts'
import { REASONS } from '../policy/choose.ts'
import { conflictEntry } from '../state/conflict-log.ts'
import { auditEntry } from '../state/audit-log.ts'

const iso = z.string().describe('ISO time')
const count = z.number()
const results = z.object({ match: count, cosmetic: count, critical: count, lag: count, error: count })
const comparisonResults = z.object({ match: count, cosmetic: count, critical: count, lag: count })
const sides = <T extends z.ZodType>(v: T) => z.object({ old: v, new: v })

export const policyRejection = z.object({ at: iso, hash: z.string(), problems: z.array(z.string()) }).nullable()

/** Where the migration stands (both roles) and, on a proxy, whether the old store can go. */
const migrationPhase = { name: z.string(), phase: z.enum(MIGRATION_PHASES), reason: z.string() }
export const decommission = z.object({ ready: z.boolean(), cleanHours: count, neededHours: count, reason: z.string() })

export const cutoverRun = z.object({
  id: z.string(), from: side, to: side, startedAt: count, deadline: count, trigger: z.enum(['file', 'command']),
})
const lastSwitch = z.object({ id: z.string(), from: side, to: side, at: count, holdMs: count })
const lastAbort = z.object({ id: z.string(), to: side, at: count, reason: z.string() })
export const cutoverState = z.object({
  epoch: count, authority: side, phase: z.enum(['steady', 'hold', 'switch']),
  run: cutoverRun.optional(), lastSwitch: lastSwitch.optional(), lastAbort: lastAbort.optional(),
})

/** Where a proxy sends writes: the policy file's authority, or the fleet's shared one and its cutover. */
export const writesStatus = z.union([
  z.object({ shared: z.literal(false), effective: side, desired: side, phase: z.literal('steady') }),
  z.object({
    shared: z.literal(true), effective: side.nullable(), desired: side, epoch: count.nullable(),
    phase: z.enum(['steady', 'hold', 'switch', 'unknown']), pending: z.string().nullable(), run: cutoverRun.nullable(),
    heldWrites: count, writesInFlight: count, lastConfirmedAgoMs: count.nullable(),
    lastSwitch: lastSwitch.nullable(), lastAbort: lastAbort.nullable(),
  }),
])
export type WritesStatus = z.input<typeof writesStatus>

export const signalVerdict = z.object({
  /** Fails readiness to promote. */
  verdict: z.enum(['pass', 'fail', 'inconclusive']),
  /** Trips the gate of a rule reading new. */
  trips: z.boolean(),
  /** What was measured: a count (criticalDrift), a rate (matchRate, errorRate increase) or a ratio (p99). */
  value: z.number().nullable(),
  reason: z.string(),
})
export type SignalVerdict = z.infer<typeof signalVerdict>
export const readiness = z.enum(['ready', 'inconclusive', 'not-ready'])

/** One slice (rule × resource type) judged on the fleet's numbers. */
export const sliceVerdict = z.object({
  rule: z.string(),
  resourceType: z.string(),
  readiness,
  reason: z.string(),
  trips: z.boolean(),
  signals: z.object({ criticalDrift: signalVerdict, matchRate: signalVerdict, errorRate: signalVerdict, p99: signalVerdict }).partial(),
  window: z.object({
    seconds: count, samples: count, results: comparisonResults, errors: sides(count), p99Ms: sides(z.number().nullable()),
  }),
})

export type SliceVerdict = z.infer<typeof sliceVerdict>

/** `broken-reference`: the object named at the pointer exists on one side only (the value itself may be equal). */
const driftReason = z.literal('broken-reference').optional()
const pointerDiff = z.object({ pointer: z.string(), severity: z.enum(['critical', 'cosmetic']), reason: driftReason })
const sample = z.object({
  id: z.string(), at: iso, rule: z.string(), resourceType: z.string(), path: z.string(), servedBy: side, reason: z.enum(REASONS),
  result: z.enum(['match', 'cosmetic', 'critical', 'lag', 'error']), status: sides(count), detail: z.string().optional(),
  pointers: z.array(pointerDiff),
  diff: z.array(z.object({ op: z.string(), path: z.string(), old: z.unknown().optional(), new: z.unknown().optional() })).optional(),
})

/** This replica's record of one slice, with its readiness from the fleet's numbers. */
export const paritySlice = z.object({
  rule: z.string(),
  resourceType: z.string(),
  comparisons: count,
  matchRate: z.number(),
  results,
  window: z.object({ seconds: count, comparisons: count, results }),
  history: z.array(results.extend({ at: iso })),
  topPointers: z.array(z.object({ pointer: z.string(), severity: z.enum(['critical', 'cosmetic']), reason: driftReason, count })),
  noisy: z.array(z.object({ pointer: z.string(), count, suggestion: z.string() })),
  samples: z.array(sample),
  readiness,
  readinessReason: z.string(),
})

const connections = z.object({ size: count, inUse: count, waiting: count })
const upstream = z.object({
  url: z.string(),
  breakers: z.record(z.string(), z.enum(['closed', 'half-open', 'open'])),
  /** Header names and where their values come from; never the values. */
  headers: z.record(z.string(), z.string()),
  connections: z.object({ reads: connections, writes: connections }),
})

const passTotals = z.object({ scanned: count, upserted: count, deleted: count, unchanged: count, skipped: count, conflicts: count, errors: count })

/** A sync process's document; a proxy shows the leader's as it last published it. */
export const syncStatus = z.object({
  role: z.literal('sync'),
  owner: z.string(),
  leader: z.boolean(),
  fencingToken: count.nullable(),
  direction: z.object({ from: side, to: side }),
  state: z.enum(['redis', 'file', 'memory']),
  migration: z.object(migrationPhase),
  cutover: z.object({
    step: z.enum(['idle', 'precheck', 'catch-up', 'hold', 'drain', 'switch']),
    run: cutoverRun.nullable(),
    /** The shared cutover state; a string says why it could not be read. */
    state: z.union([cutoverState, z.string()]).optional(),
  }),
  totals: passTotals,
  progress: z.record(z.string(), z.object({ tenantsDone: count, tenants: count, objects: count, etaSec: count.optional() })),
  lagSeconds: z.record(z.string(), z.number()),
  /** The newest conflicts; a string says why they could not be read. */
  conflicts: z.union([z.array(conflictEntry), z.string()]),
  policy: z.object({ file: z.string(), generation: count, hash: z.string(), lastError: policyRejection }),
  at: iso,
})
export type SyncStatus = z.input<typeof syncStatus>

/** What a proxy says in place of the sync's document when it has none. */
const syncUnavailable = z.object({ unavailable: z.string() })

export const proxyStatus = z.object({
  role: z.literal('proxy'),
  policy: z.object({
    file: z.string(), generation: count, hash: z.string(), loadedAt: iso, origin: z.enum(['file', 'persisted']),
    degraded: z.boolean(), lastError: policyRejection,
    restartNeeded: z.object({
      reason: z.string(), keys: z.array(z.enum(['listen', 'admin'])),
      bound: z.object({ listen: z.string(), admin: z.string() }).partial(), wanted: z.object({ listen: z.string(), admin: z.string() }).partial(),
    }).nullable(),
  }),
  migration: z.object({ ...migrationPhase, decommission }),
  evidence: z.object({
    store: z.enum(['redis', 'memory']),
    /** Replicas that added to the gate window's buckets. */
    replicas: count,
    at: iso.nullable(),
    unavailable: z.string().nullable(),
    slices: z.array(sliceVerdict),
  }),
  authority: side,
  writes: writesStatus,
  upstreams: sides(upstream),
  overrides: z.object({
    backend: z.enum(['memory', 'redis']), stale: z.boolean(), lastError: z.string().optional(),
    entries: z.record(z.string(), z.object({ since: iso, reason: z.string() })),
  }),
  rules: z.array(z.object({
    name: z.string(), match: z.record(z.string(), z.unknown()), primary: side, newPercent: count, shadowPercent: count, fallback: z.boolean(),
    rolledBack: z.boolean(), readiness, readinessReason: z.string(),
  })),
  parity: z.array(paritySlice),
  shadow: z.object({ inFlight: count, maxInFlight: count }),
  readYourWrites: z.object({ windowMs: count, trackedSlices: count }),
  /** Reads served so far by this replica, per rule and resource type. */
  traffic: z.array(z.object({ rule: z.string(), resourceType: z.string(), old: count, new: count, fallbacks: count, errors: count })),
  sync: z.union([syncStatus, syncUnavailable]),
})
export type ProxyStatus = z.infer<typeof proxyStatus>

export const statusDocument = z.discriminatedUnion('role', [proxyStatus, syncStatus])
export type StatusDocument = z.input<typeof statusDocument>

/** The document as JSON Schema (GET /status/schema). */
export function statusJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(statusDocument, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>
}
export type StatusDocumentOut = z.output<typeof statusDocument>

/** A slice's signals over one hour or day of the fleet's hourly buckets, as the gates compute them. */
export const signalPoint = z.object({
  /** Start of the hour or day. */
  at: iso,
  /** Comparisons of two real answers. */
  samples: count,
  /** Matches (lag counts as one) among the samples; null without samples. */
  matchRate: z.number().nullable(),
  /** Pairs in which each side failed, and their share of all pairs (null without pairs). */
  errors: sides(count),
  errorRate: sides(z.number().nullable()),
  /** New's error rate minus old's: what an errorRate gate judges. */
  errorRateIncrease: z.number().nullable(),
  p99Ms: sides(z.number().nullable()),
  /** New's p99 over old's: what a p99 gate judges. */
  p99Ratio: z.number().nullable(),
})
export type SignalPoint = z.infer<typeof signalPoint>

/** GET /evidence: every slice's signals over time, from the fleet's hourly buckets (kept `evidence.retentionDays`). */
export const evidenceHistory = z.object({
  store: z.enum(['redis', 'memory']),
  step: z.enum(['hour', 'day']),
  from: iso,
  to: iso,
  slices: z.array(z.object({ rule: z.string(), resourceType: z.string(), points: z.array(signalPoint) })),
})
export type EvidenceHistory = z.infer<typeof evidenceHistory>

/** GET /history: the newest entries of the migration's audit log, newest first. */
export const historyReport = z.object({
  /** Where the log lives: shared by the migration (redis), a state file, or this process only (memory). */
  backend: z.enum(['redis', 'file', 'memory']),
  entries: z.array(auditEntry),
})
export type HistoryReport = z.infer<typeof historyReport>
