// Applying keys: what the sync does to make one key of the target equal to the source, given what
// it read (a page, or both sides by key), what it wrote before and the watermark; one key at a
// time, with conditional writes where the target offers them, conflicts logged, state recorded.
import pMap from 'p-map'
import type { Resource, Side } from '../policy/schema.ts'
import { writeStyle, type WriteStyle } from '../policy/write-style.ts'
import type { IdPair } from '../state/id-map.ts'
import { canonicalHash, compilePlan, type ComparePlan } from '../parity/compare.ts'
import { parsePointer, valueAt } from '../parity/pointer.ts'
import type { Logger } from '../telemetry/logger.ts'
import type { Metrics } from '../telemetry/metrics.ts'
import { endWith, recordApply, startApplySpan, WriteLinks } from '../telemetry/spans.ts'
import type { LinkTranslator, UnpairedLink } from '../parity/link-translation.ts'
import { PreconditionFailed, syncErrorReason, UnpairedReference, type Precondition, type ResourceAdapter } from './adapter.ts'
import { decodeApplied, encodeApplied, type AppliedRecord } from './applied.ts'
import { decide, type KeyFacts, type SyncOp } from './decide.ts'
import { LeaseLostError } from './fencing.ts'
import { storeIdOf, withStoreId } from './store-ids.ts'
import type { PassSummary } from './summary.ts'
import { syncKey, type SyncKey } from '../state/sync-key.ts'
import type { StateStore } from '../state/state-store.ts'
import type { ChangeEvent } from '../state/change-stream.ts'

/** Writes of one key tried in a row while the target answers 412 (someone else keeps writing it). */
const PRECONDITION_ATTEMPTS = 3

export interface KeyApplierOptions {
  state: Pick<StateStore, 'checkpoints' | 'conflicts' | 'ids'>
  log: Logger
  metrics: Metrics
  adapters: Record<Side, ResourceAdapter>
  source: Side
  target: Side
  resources: Resource[]
  concurrency: number
  /** Throws LeaseLostError once this process may no longer write. */
  fence: () => Promise<void>
  /** When the proxy last saw a write to `key` (ms), for the watermark rule. */
  changedAt: (key: SyncKey) => number | undefined
  /** The policy's links to objects whose stores assign their own ids: a source object's are written (and compared) in the target's ids. */
  links: LinkTranslator
}

export class KeyApplier {
  #o: KeyApplierOptions
  #plans = new Map<string, ComparePlan>()
  #styles = new Map<string, WriteStyle>()
  #locks = new Map<SyncKey, Promise<unknown>>()
  /** The traced writes behind keys the change stream named, for the apply spans to link to. */
  #writes = new WriteLinks()

  constructor(o: KeyApplierOptions) {
    this.#o = o
    for (const r of o.resources) {
      this.#plans.set(r.type, compilePlan(withoutRevision(r)))
      this.#styles.set(r.type, writeStyle(r))
    }
  }

  /** The hash the sync compares objects of `resourceType` by (their revision left out). */
  hash(resourceType: string, doc: unknown): string {
    return canonicalHash(this.#plans.get(resourceType)!, doc)
  }

  /**
   * The hash of the source's object as the target must hold it (links in the target's ids), to
   * compare with the target's (hash); undefined when absent, and a value no hash has while a link
   * cannot be translated yet.
   */
  async sourceHash(resource: Resource, tenant: string, source: unknown): Promise<string | undefined> {
    const { doc, unpaired } = await this.#asTarget(resource, tenant, source)
    return unpaired.length > 0 ? 'unpaired' : this.#hashOf(resource.type, doc)
  }

  #hashOf(resourceType: string, doc: unknown): string | undefined {
    return doc === undefined ? undefined : this.hash(resourceType, doc)
  }

  /** The source's object with its links to objects whose stores assign their own ids naming the target's (from the id map), and the links the map does not pair yet. */
  #asTarget(resource: Resource, tenant: string, source: unknown): Promise<{ doc: unknown, unpaired: UnpairedLink[] }> {
    return this.#o.links.translate(resource.type, 'item', source, tenant, this.#o.target, this.#o.state.ids)
  }

  /** Notes the traced writes among `changes` (a no-op while tracing is off): applying their keys links to them. */
  noteWrites(changes: ChangeEvent[]): void {
    for (const c of changes) if (c.id !== undefined) this.#writes.note(syncKey(c.resourceType, c.tenant, c.id), c.traceparent)
  }

  /** Applies keys read from a page (source doc undefined = absent at the source). */
  async applyPage(resource: Resource, tenant: string, items: Array<{ id: string, doc: unknown }>, readAt: number, targetIndex: Map<string, unknown>, summary: PassSummary): Promise<void> {
    const keys = items.map(i => syncKey(resource.type, tenant, i.id))
    const [applied, tombstones] = await this.#keyState(keys)
    await this.#o.fence()
    await this.#applyAll(resource, tenant, items.map((item, i) => ({
      id: item.id, key: keys[i]!, source: item.doc, target: targetIndex.get(item.id), targetEtag: undefined, readAt,
      applied: applied.get(keys[i]!), tombstoneAt: tombstones.get(keys[i]!),
    })), summary)
  }

  /** Applies keys by reading both sides now (the change stream's work). */
  async applyKeys(resource: Resource, tenant: string, ids: string[], summary: PassSummary): Promise<void> {
    const keys = ids.map(id => syncKey(resource.type, tenant, id))
    const [applied, tombstones] = await this.#keyState(keys)
    await this.#o.fence()
    const items = await pMap(ids, async (id, i) => {
      return { id, key: keys[i]!, ...await this.readKey(resource, tenant, id), readAt: undefined, applied: applied.get(keys[i]!), tombstoneAt: tombstones.get(keys[i]!) }
    }, { concurrency: this.#o.concurrency })
    await this.#applyAll(resource, tenant, items, summary)
  }

  async #keyState(keys: SyncKey[]): Promise<[Map<SyncKey, AppliedRecord>, Map<SyncKey, number>]> {
    const [applied, tombstones] = await Promise.all([this.#o.state.checkpoints.getApplied(keys), this.#o.state.checkpoints.getTombstones(keys)])
    return [new Map([...applied].map(([key, text]) => [key, decodeApplied(text)])), tombstones]
  }

  /** Both sides' objects of one key, as they are now, and the target's ETag when it has one. */
  async readKey(resource: Resource, tenant: string, id: string): Promise<{ source: unknown, target: unknown, targetEtag: string | undefined }> {
    const target = this.#o.adapters[this.#o.target]
    const [source, tagged] = await Promise.all([
      this.#o.adapters[this.#o.source].get(resource, tenant, id),
      target.getTagged ? target.getTagged(resource, tenant, id) : target.get(resource, tenant, id).then(doc => ({ doc, etag: undefined })),
    ])
    return { source, target: tagged.doc, targetEtag: tagged.etag }
  }

  /** `item` with both sides read again by key (read now, so no watermark applies). */
  async #reread(resource: Resource, tenant: string, item: ApplyInput): Promise<ApplyInput> {
    return { ...item, ...await this.readKey(resource, tenant, item.id), readAt: undefined }
  }

  /**
   * What the target must still hold for the sync's write to land, on a store that does
   * conditional writes: the object as read (its ETag), or nothing.
   */
  #precondition(item: ApplyInput): Precondition | undefined {
    if (this.#o.adapters[this.#o.target].conditionalWrites !== true) return undefined
    if (item.target === undefined) return { ifNoneMatch: '*' }
    return item.targetEtag === undefined ? undefined : { ifMatch: item.targetEtag }
  }

  async #applyAll(resource: Resource, tenant: string, items: Array<ApplyInput>, summary: PassSummary): Promise<void> {
    const appliedUpdates: Array<[SyncKey, string | undefined]> = []
    const tombstoneUpdates: Array<[SyncKey, number | undefined]> = []
    const pairs: IdPair[] = []
    const forgotten: Array<{ resourceType: string, tenant: string, id: string }> = []
    await pMap(items, item => this.#locked(item.key, async () => {
      try {
        const outcome = await this.#traced(resource, item, () => this.#applyOne(resource, tenant, item))
        summary.scanned++
        summary[counter(outcome.op)]++
        if (outcome.conflict) summary.conflicts++
        if (outcome.after) {
          appliedUpdates.push([item.key, outcome.after.applied && encodeApplied(outcome.after.applied)])
          tombstoneUpdates.push([item.key, outcome.after.tombstone])
        }
        if (outcome.ids?.pair) pairs.push({ resourceType: resource.type, tenant, ...outcome.ids.pair })
        if (outcome.ids?.forget !== undefined) forgotten.push({ resourceType: resource.type, tenant, id: outcome.ids.forget })
      } catch (err) {
        if (err instanceof LeaseLostError) throw err
        summary.errors++
        this.#o.metrics.syncErrors.add(1, { resource_type: resource.type, reason: syncErrorReason(err) })
        this.#o.log.warn({ key: item.key.replaceAll('\u0000', '/'), err: { message: (err as Error).message } }, 'sync could not apply a key; a later pass retries it')
      }
    }), { concurrency: this.#o.concurrency })
    await Promise.all([
      appliedUpdates.length > 0 ? this.#o.state.checkpoints.setApplied(appliedUpdates) : undefined,
      tombstoneUpdates.length > 0 ? this.#o.state.checkpoints.setTombstones(tombstoneUpdates) : undefined,
      pairs.length > 0 ? this.#o.state.ids.pair(pairs) : undefined,
      forgotten.length > 0 ? this.#o.state.ids.forget(this.#o.target, forgotten) : undefined,
    ])
  }

  /**
   * Applies one key; `after` is what the state store should then say about it (nothing for a
   * skip). On a target that does conditional writes, a write carries the target's ETag (or asks
   * for absence); a 412 means someone wrote the target since it was read: both sides are read
   * again and decided again (now a conflict the authority wins), `PRECONDITION_ATTEMPTS` times
   * at most, then it is an error a later pass retries.
   */
  async #applyOne(resource: Resource, tenant: string, read: ApplyInput, attempt = 1): Promise<Outcome> {
    // Compared and written as the target must hold it (links in the target's ids), or not at all:
    // written as it is, a link would name an object the target does not have, or another one.
    const { doc: source, unpaired } = await this.#asTarget(resource, tenant, read.source)
    if (unpaired.length > 0) throw new UnpairedReference(this.#o.target, unpaired)
    const item = { ...read, source }
    const plan = this.#plans.get(resource.type)!
    const style = this.#styles.get(resource.type)!
    const version = resource.version === undefined ? undefined : parsePointer(resource.version)
    const versionOf = (doc: unknown) => {
      const v = version && doc !== undefined ? valueAt(doc, version) : undefined
      return typeof v === 'number' ? v : undefined
    }
    const facts: KeyFacts = {
      sourceHash: item.source === undefined ? undefined : canonicalHash(plan, item.source),
      targetHash: item.target === undefined ? undefined : canonicalHash(plan, item.target),
      // Paired by natural key, a key is re-read by scanning, never on its own: no revision rule (decide's reread).
      sourceVersion: style.serverIds ? undefined : versionOf(item.source), appliedVersion: item.applied?.sourceVersion,
      appliedHash: item.applied?.hash, tombstoneAt: item.tombstoneAt,
      changedAt: this.#o.changedAt(item.key), readAt: item.readAt,
    }
    const decision = decide(facts)
    if (decision.op === 'reread') return this.#applyOne(resource, tenant, await this.#reread(resource, tenant, item), attempt)
    const { metrics } = this.#o
    const target = this.#o.adapters[this.#o.target]
    // write.delete: false: what the source no longer has stays on the target (sync --once counts it).
    if (decision.op === 'delete' && style.delete === undefined) return { op: 'skip', conflict: false }
    let written: string | undefined
    if (decision.op === 'upsert' || decision.op === 'delete') {
      // A page carries no ETag: an object there is read by key first, so the write can carry one.
      if (item.readAt !== undefined && item.target !== undefined && target.conditionalWrites === true && !style.serverIds) {
        return this.#applyOne(resource, tenant, await this.#reread(resource, tenant, item), attempt)
      }
      await this.#o.fence()
      const precondition = style.serverIds ? undefined : this.#precondition(item)
      try {
        if (decision.op === 'upsert') written = await this.#write(resource, tenant, item, style, precondition)
        else await target.delete(resource, tenant, style.serverIds ? storeIdOf(resource, item.target)! : item.id, precondition)
      } catch (err) {
        if (!(err instanceof PreconditionFailed)) throw err
        if (attempt >= PRECONDITION_ATTEMPTS) {
          throw new Error(`the ${this.#o.target} store's object changed between the sync's read and its write ${attempt} times in a row (412 Precondition Failed)`, { cause: err })
        }
        this.#o.log.info({ key: item.key.replaceAll('\u0000', '/'), attempt }, `the ${this.#o.target} store's object changed since the sync read it (412); reading both sides again`)
        return this.#applyOne(resource, tenant, await this.#reread(resource, tenant, item), attempt + 1)
      }
    }
    if (decision.conflict) {
      metrics.syncConflicts.add(1, { resource_type: resource.type, winner: this.#o.source })
      const entry = {
        key: item.key.replaceAll('\u0000', '/'), sourceHash: facts.sourceHash ?? 'absent', targetHash: facts.targetHash!,
        ...(facts.appliedHash === undefined ? {} : { appliedHash: facts.appliedHash }),
        winner: this.#o.source, decision: decision.op as 'upsert' | 'delete', at: new Date().toISOString(),
      }
      await this.#o.state.conflicts.append(entry)
      this.#o.log.warn({ conflict: entry }, `sync conflict: the ${this.#o.target} store had its own change; the authority (${this.#o.source}) wins`)
    }
    if (decision.op !== 'skip') metrics.syncApplied.add(1, { resource_type: resource.type, op: decision.op })
    if (decision.op === 'skip') return { op: 'skip', conflict: false }
    // Present at the source: the target now holds what the sync wrote (or already equal).
    // Absent: a tombstone keeps a page read earlier from bringing the object back.
    const after = facts.sourceHash === undefined
      ? { applied: undefined, tombstone: decision.op === 'delete' ? Date.now() : item.tombstoneAt ?? Date.now() }
      : { applied: { hash: facts.sourceHash, sourceVersion: facts.sourceVersion }, tombstone: undefined }
    return { op: decision.op, conflict: decision.conflict, after, ...(style.serverIds ? { ids: this.#idChange(resource, item, decision.op, written) } : {}) }
  }

  /**
   * Creates or updates the target's object as the resource's write style says. With ids of each
   * store's own, a create sends no id (or the source's, to an item path) and an update the
   * target's; resolves to the target's id of the object when it is known.
   */
  async #write(resource: Resource, tenant: string, item: ApplyInput, style: WriteStyle, precondition: Precondition | undefined): Promise<string | undefined> {
    const target = this.#o.adapters[this.#o.target]
    const create = item.target === undefined
    const step = create ? style.create : style.update
    let id = item.id
    let doc = item.source
    if (style.serverIds) {
      const targetId = create ? step.path === 'item' ? storeIdOf(resource, item.source) : undefined : storeIdOf(resource, item.target)
      id = targetId!
      doc = withStoreId(resource, item.source, targetId)
    }
    if (!target.send) {
      await target.put(resource, tenant, id, doc, precondition)
      return id
    }
    const answered = await target.send(resource, tenant, step, id, doc, precondition)
    return answered ?? (create && step.path === 'collection' ? undefined : id)
  }

  /** What the id map learns from one applied key of a resource whose stores assign ids. */
  #idChange(resource: Resource, item: ApplyInput, op: SyncOp, written: string | undefined): Outcome['ids'] {
    if (op === 'delete') return { forget: storeIdOf(resource, item.target)! }
    const sourceId = storeIdOf(resource, item.source)
    const targetId = op === 'upsert' ? written : storeIdOf(resource, item.target)
    if (sourceId === undefined || targetId === undefined) return undefined
    return { pair: { [this.#o.source]: sourceId, [this.#o.target]: targetId } as Record<Side, string> }
  }

  /** The apply of one key as a span (while tracing), linked to the writes that caused it. */
  #traced<T extends { op: SyncOp, conflict: boolean }>(resource: Resource, item: ApplyInput, apply: () => Promise<T>): Promise<T> {
    const span = startApplySpan(resource.type, this.#o.source, this.#o.target, this.#writes.take(item.key))
    return span ? endWith(span, apply(), recordApply) : apply()
  }

  /** One key at a time: a change and a scan never interleave their reads and writes of it. */
  async #locked<T>(key: SyncKey, run: () => Promise<T>): Promise<T> {
    const previous = this.#locks.get(key)
    const current = (async () => {
      if (previous) await previous.catch(() => undefined)
      return run()
    })()
    this.#locks.set(key, current)
    try {
      return await current
    } finally {
      if (this.#locks.get(key) === current) this.#locks.delete(key)
    }
  }

  /** The ids of `ids` whose two sides differ now (read-only). */
  async differing(resource: Resource, tenant: string, ids: string[]): Promise<string[]> {
    const differs = await pMap(ids, async id => {
      const { source, target } = await this.readKey(resource, tenant, id)
      return await this.sourceHash(resource, tenant, source) !== this.#hashOf(resource.type, target)
    }, { concurrency: this.#o.concurrency })
    return ids.filter((_, i) => differs[i])
  }
}

interface Outcome {
  op: SyncOp
  conflict: boolean
  /** What the state store should then say about the key (nothing for a skip). */
  after?: { applied: AppliedRecord | undefined, tombstone: number | undefined }
  /** For ids of each store's own: the pair the sync now knows, or the target id of an object deleted. */
  ids?: { pair?: { old: string, new: string }, forget?: string } | undefined
}

interface ApplyInput {
  id: string
  key: SyncKey
  source: unknown
  target: unknown
  /** The target's strong ETag, when it was read by key from a store that sends them. */
  targetEtag: string | undefined
  readAt: number | undefined
  applied: AppliedRecord | undefined
  tombstoneAt: number | undefined
}

/**
 * The resource as the sync hashes it: its `version` is each store's own bookkeeping (real stores
 * bump it on every write, a copy included), so it is never part of the content that must match.
 */
function withoutRevision(resource: Resource): Resource {
  if (resource.version === undefined) return resource
  return { ...resource, compare: { ...resource.compare, ignore: [...resource.compare.ignore, resource.version] } }
}

function counter(op: SyncOp): 'upserted' | 'deleted' | 'unchanged' | 'skipped' {
  return op === 'upsert' ? 'upserted' : op === 'delete' ? 'deleted' : op === 'unchanged' ? 'unchanged' : 'skipped'
}
