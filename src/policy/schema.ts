// The policy file's schema: the one source of truth for its keys, defaults and types.
// Objects are strict so a typo (`shadowPrecent`) is an error, never a silently ignored key.
import { z } from 'zod'

export const SIDES = ['old', 'new'] as const
export const side = z.enum(SIDES)
export type Side = z.infer<typeof side>

const percent = z.number().min(0, 'a percentage is between 0 and 100').max(100, 'a percentage is between 0 and 100')
const positiveInt = z.int().positive()
const hostPort = z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[^:\s[\]]+):\d{1,5}$/, 'expected HOST:PORT, for example 127.0.0.1:8080')

/** A JSON Pointer (RFC 6901); compare pointers may use `*` for one segment. */
export const pointer = z.string().regex(/^(\/([^~]|~[01])*)*$/, 'expected a JSON Pointer such as /routing/receiver (start with "/", escape "~" as ~0 and "/" as ~1)')

/** An HTTP field name (RFC 9110 token), such as authorization or x-api-key. */
const headerName = z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'expected a header name such as authorization or x-api-key')

/**
 * Where a header's value comes from: an environment variable, a file (re-read when it changes:
 * a rotated Kubernetes Secret), or the value itself (allowed; `policy check` warns when it looks
 * like a credential). `prefix` goes before what the variable or file holds ("Bearer ").
 */
const headerValue = z.union([
  z.string(),
  z.strictObject({ env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name such as NEW_API_TOKEN'), prefix: z.string().optional() }),
  z.strictObject({ file: z.string().min(1), prefix: z.string().optional() }),
], { error: 'expected a value, { env: NAME } or { file: PATH } (each may add prefix: "Bearer ")' })
export type HeaderValue = z.infer<typeof headerValue>

/** Connection budgets per role, per upstream: at most this many requests of the role at once. */
export const DEFAULT_CONNECTIONS = { reads: 64, writes: 256, sync: 16 } as const

const connections = z.strictObject({
  /** Primary and shadow reads (and the /readyz probe). */
  reads: positiveInt.default(DEFAULT_CONNECTIONS.reads),
  /** Writes, passthrough and websocket upgrades sent to this upstream while it is the authority. */
  writes: positiveInt.default(DEFAULT_CONNECTIONS.writes),
  /** The sync loop's reads and writes of this store (in the sync process). */
  sync: positiveInt.default(DEFAULT_CONNECTIONS.sync),
})

const upstream = z.strictObject({
  url: z.url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' }),
  timeoutMs: positiveInt.default(2000),
  /** Per role; a bare number is the reads budget (what the key meant before it had roles). */
  connections: z.preprocess(v => typeof v === 'number' ? { reads: v } : v, connections).prefault({}),
  /** Longest a request waits for a free connection of its role; past it, it fails like an unreachable upstream. */
  queueTimeoutMs: z.int().min(0).default(250),
  /** Sent by the sync on every call, and by shadow reads with `shadow.credentials: upstream`. */
  headers: z.record(headerName, headerValue).default({}),
})

const breaker = z.strictObject({
  errorThresholdPercentage: z.number().min(1).max(100).default(50),
  volumeThreshold: z.int().min(0).default(10),
  resetTimeoutMs: positiveInt.default(10_000),
  /** Window over which the error percentage is computed. */
  rollingWindowMs: positiveInt.default(10_000),
})

const identity = z.strictObject({
  tenant: z.strictObject({
    pathParam: z.string().min(1).default('tenant'),
    header: z.string().min(1).toLowerCase().default('x-tenant-id'),
  }).prefault({}),
  region: z.strictObject({
    header: z.string().min(1).toLowerCase().default('x-region'),
    default: z.string().min(1).default('us-east-1'),
  }).prefault({}),
})

const routePattern = z.string().regex(/^\/\S*$/, 'expected a path pattern such as /api/v1/tenants/:tenant/alert-rules')

/** Value normalizers for `compare.normalize`: "5m" equals "300s" (duration), "Critical" equals "critical" (lowercase), ... */
export const NORMALIZERS = ['duration', 'lowercase', 'trim', 'number'] as const

/** A normalizer by name, or `{ default: VALUE }`: a missing value equals VALUE. */
const normalizer = z.union([z.enum(NORMALIZERS), z.strictObject({ default: z.json() })], { error: `expected one of ${NORMALIZERS.join(', ')}, or { default: VALUE }` })
export type Normalizer = z.infer<typeof normalizer>

const compare = z.strictObject({
  ignore: z.array(pointer).default([]),
  unordered: z.record(pointer, pointer.nullable()).default({}),
  normalize: z.record(pointer, normalizer).default({}),
  critical: z.array(pointer).default([]),
  redact: z.array(pointer).default([]),
})

/** The verbs the sync may write an object to its own path (item or singleton) with. */
export const WRITE_METHODS = ['PUT', 'POST', 'PATCH'] as const

/**
 * How the sync creates or updates an object (see src/policy/write-style.ts): a verb, where it is
 * sent (the object's own `item` path, or the `collection`), and where the answer names the id
 * the store gave the object (default: the resource's `id` pointer).
 */
const writeStep = z.strictObject({
  method: z.enum(WRITE_METHODS),
  path: z.enum(['item', 'collection']).default('item'),
  idFrom: pointer.optional(),
})
export type WriteStepConfig = z.infer<typeof writeStep>

const write = z.strictObject({
  /** The verb of every write to the object's own path, unless create or update says otherwise. */
  method: z.enum(WRITE_METHODS).default('PUT'),
  create: writeStep.optional(),
  update: writeStep.optional(),
  /** Deletes go to the item path; `false`: the sync never deletes (a store that keeps what it was given). */
  delete: z.union([z.strictObject({ method: z.literal('DELETE').default('DELETE'), path: z.literal('item').default('item') }), z.literal(false)], { error: 'expected { method: DELETE, path: item } or false' }).optional(),
}).prefault({})

/**
 * A resource's shape is given by its paths (see shape.ts): `collection` + `item`, `collection`
 * alone (a list with no item path), or `singleton` (one document).
 */
const resourceType = z.string().regex(/^[a-z][a-z0-9-]*$/, 'expected a lower-case name such as alert-rule')

const resource = z.strictObject({
  type: resourceType,
  collection: routePattern.optional(),
  item: routePattern.optional(),
  /** One document at this path, compared whole; no list, no id. */
  singleton: routePattern.optional(),
  /** Item-path parameters other than the tenant and the last one (the id): where each is in an object. */
  params: z.record(z.string().min(1), pointer).default({}),
  /** How the sync creates, updates and deletes objects: today's PUT to the item path by default. */
  write,
  /**
   * Pointers whose values together identify an object in both stores when each store assigns its
   * own ids: the sync pairs objects by them (keeping the id map), lists compare by them, and the
   * `id` itself is not drift.
   */
  naturalKey: z.array(pointer).min(1).optional(),
  /** An object whose value at a pointer is one of these is treated as absent (an expired silence): not listed, not compared, not copied. */
  absentWhen: z.record(pointer, z.array(z.json()).min(1)).default({}),
  /** false: read-only (a status document, a list from a config file): compared, never written by the sync. */
  sync: z.boolean().default(true),
  list: z.strictObject({
    items: pointer.default('/items'),
    next: pointer.default('/nextCursor'),
    cursorParam: z.string().min(1).default('cursor'),
    limitParam: z.string().min(1).default('limit'),
  }).prefault({}),
  id: pointer.default('/id'),
  version: pointer.optional(),
  compare: compare.prefault({}),
  /**
   * Where an object names another (pointer, `*` for any array index or key) → the type of the
   * object named: a link that resolves on one side only is critical drift (`broken-reference`),
   * and the sync writes parents before children (see src/policy/references.ts).
   */
  references: z.record(pointer, resourceType).default({}),
})

/** Each gate signal may look at its own window and need its own number of samples (default: the drift gate's). */
const signalWindow = {
  windowSec: z.int().min(10).max(21_600).optional(),
  minSamples: positiveInt.optional(),
}
const ratio = z.number().min(0).max(1)
/** The signals a slice is judged on; matchRate, errorRate and p99 are judged only when set. */
const gateSignals = {
  /** Critical differences in the window at or over `threshold` fail the slice. */
  criticalDrift: z.strictObject({ threshold: positiveInt.optional(), ...signalWindow }).optional(),
  /** Share of comparisons that matched (lag counts as a match) below `min` fails it. */
  matchRate: z.strictObject({ min: ratio, ...signalWindow }).optional(),
  /** New's share of failed answers minus old's, above `maxIncrease`, fails it. */
  errorRate: z.strictObject({ maxIncrease: ratio, ...signalWindow }).optional(),
  /** New's p99 latency over old's, above `maxRatio`, fails it. */
  p99: z.strictObject({ maxRatio: z.number().min(1), ...signalWindow }).optional(),
}
export type GateSignals = { [K in keyof typeof gateSignals]?: z.infer<typeof gateSignals[K]> }

const rule = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'expected a name of letters, digits, "-", "_" or "."'),
  match: z.strictObject({
    tenants: z.array(z.string().min(1)).min(1).optional(),
    regions: z.array(z.string().min(1)).min(1).optional(),
    resourceTypes: z.array(z.string().min(1)).min(1).optional(),
  }).default({}),
  primary: side,
  /** Sticky share of reads sent to `new` (by a hash of the tenant), when primary is old. */
  newPercent: percent.default(0),
  shadowPercent: percent.default(0),
  fallback: z.boolean().default(true),
  /** This rule's gate signals; each one not given is the `gates:` one. */
  gate: z.strictObject(gateSignals).optional(),
})

const gates = z.strictObject({
  rollbackOnCriticalDrift: z.strictObject({
    enabled: z.boolean().default(true),
    threshold: positiveInt.default(1),
    windowSec: z.int().min(10).max(21_600).default(300),
    minSamples: positiveInt.default(20),
  }).prefault({}),
  matchRate: gateSignals.matchRate,
  errorRate: gateSignals.errorRate,
  p99: gateSignals.p99,
})

const sync = z.strictObject({
  enabled: z.boolean().default(true),
  state: z.string().regex(/^(redis|rediss|file):/, 'expected redis://HOST:PORT/DB or file:PATH').default('file:.dualread/state'),
  direction: z.enum(['auto', 'old-to-new', 'new-to-old']).default('auto'),
  batchSize: positiveInt.default(200),
  concurrency: positiveInt.default(4),
  maxWritesPerSecond: positiveInt.default(200),
  fullScanIntervalSec: positiveInt.default(600),
  /** Where the sync finds the tenants to walk; without it, only resources whose paths have no tenant are synced. */
  tenants: z.strictObject({
    list: routePattern,
    items: pointer.default('/items'),
    id: pointer.default('/id'),
    next: pointer.default('/nextCursor'),
    cursorParam: z.string().min(1).default('cursor'),
  }).optional(),
  /** How long a sync process holds the single-writer lease without renewing it. */
  leaseTtlMs: positiveInt.default(10_000),
})

export const policySchema = z.strictObject({
  version: z.literal(1, 'only version: 1 exists'),
  /** Names this migration; keys in Redis are scoped by it so two migrations can share one Redis. */
  migration: z.string().regex(/^[A-Za-z0-9_.-]+$/).default('default'),
  listen: hostPort.default('0.0.0.0:8080'),
  admin: hostPort.default('127.0.0.1:9090'),
  upstreams: z.strictObject({ old: upstream, new: upstream }),
  breaker: breaker.prefault({}),
  authority: side,
  identity: identity.prefault({}),
  resources: z.array(resource).default([]),
  rules: z.array(rule).min(1, 'add at least one rule; the last one should match everything'),
  gates: gates.prefault({}),
  readYourWrites: z.strictObject({ windowMs: z.int().min(0).default(5000) }).prefault({}),
  /** The fleet's comparison counts: 10 s buckets for gate windows, hourly ones kept `retentionDays`. */
  evidence: z.strictObject({
    retentionDays: z.int().min(1).max(366).default(30),
    /** Sustained parity before decommission: this many clean hours in a row, across every slice. */
    decommissionAfterHours: positiveInt.default(168),
  }).prefault({}),
  /**
   * Client-supplied X-Forwarded-* and Forwarded headers: replaced by the proxy's own (trust: false),
   * or kept and appended to (trust: true, when only a trusted load balancer can reach the proxy).
   */
  forwarded: z.strictObject({ trust: z.boolean().default(false) }).prefault({}),
  shadow: z.strictObject({
    maxInFlight: positiveInt.default(64),
    maxBodyBytes: positiveInt.default(1_048_576),
    timeoutMs: positiveInt.default(2000),
    recheckLagMs: z.int().min(0).default(1000),
    /** Worker threads that decode, parse and compare shadow pairs, off the clients' event loop. */
    workers: z.int().min(1).max(64).default(1),
    /** Pairs of uncompressed bodies up to this many bytes in all are compared on the event loop: cheaper than handing them to a worker. */
    inlineCompareBytes: z.int().min(0).max(65_536).default(4096),
    /** Shadow reads carry the client's own headers (`client`), or the side's `upstreams.<side>.headers` instead of the client's credentials. */
    credentials: z.enum(['client', 'upstream']).default('client'),
  }).prefault({}),
  sync: sync.prefault({}),
  /** The coordinated write cutover that runs when `authority` is edited (or `dualread cutover`). */
  cutover: z.strictObject({
    /** A cutover is refused while the oldest change the sync has not applied is older than this. */
    maxLagMs: positiveInt.default(1000),
    /** Longest a write waits while a cutover holds writes; past it the write gets 503 with Retry-After. */
    maxHoldMs: positiveInt.default(2000),
    /** Keys written this long before the hold are re-read on both sides until equal. */
    lookBackMs: positiveInt.default(10_000),
    /** A proxy replica not heard of for this long no longer blocks a cutover (a pod that died without saying so). */
    replicaTimeoutSec: positiveInt.default(60),
    /** A proxy that could not confirm the write authority with the state store for this long refuses writes (503). */
    staleViewMs: positiveInt.default(30_000),
    /** After an aborted cutover, how long the coordinator waits before it tries again. */
    retryAfterSec: positiveInt.default(30),
  }).prefault({}),
})

export type Policy = z.infer<typeof policySchema>
export type PolicyInput = z.input<typeof policySchema>
export type Rule = Policy['rules'][number]
export type Resource = Policy['resources'][number]
export type UpstreamConfig = Policy['upstreams']['old']
export type BreakerConfig = Policy['breaker']
export type CompareConfig = Resource['compare']
export type CutoverConfig = Policy['cutover']
