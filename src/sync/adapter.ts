// Reads and writes one store the way its REST API is described in the policy: the resource's
// shape (collection and item paths, or a singleton), list pointers and parameters, id, and the
// upstream's credential headers. No resource-specific code; a store that needs some implements
// ResourceAdapter itself.
import type { Dispatcher } from 'undici'
import { BoundedPool } from '../connections/bounded-pool.ts'
import { UpstreamHeaders, type UpstreamHeadersOptions } from '../credentials/upstream-headers.ts'
import type { UnpairedLink } from '../parity/link-translation.ts'
import type { Policy, Resource, Side } from '../policy/schema.ts'
import { fillPath, joinKey, listingPath, pairingPointers } from '../policy/shape.ts'
import type { WriteStep } from '../policy/write-style.ts'
import { absentTest } from '../parity/absent.ts'
import { canonicalJson } from '../parity/canonical.ts'
import { parsePointer, valueAt } from '../parity/pointer.ts'
import { maskCredentials } from '../telemetry/secrets.ts'
import type { Metrics } from '../telemetry/metrics.ts'
import { retryAfterMs, type Throttle } from './throttle.ts'

export interface Page {
  items: Array<{ id: string, doc: unknown }>
  next: string | undefined
}

/** An object as read, with the store's strong ETag for it (undefined when it sent none). */
export interface Tagged {
  /** Undefined when the store says 404. */
  doc: unknown
  etag: string | undefined
}

/**
 * What the target must still hold for a write to land: the object with this ETag (`If-Match`),
 * or nothing (`If-None-Match: *`). A store where it does not hold answers 412.
 */
export type Precondition = { ifMatch: string } | { ifNoneMatch: '*' }

export interface ResourceAdapter {
  readonly side: Side
  listTenants(): Promise<string[]>
  /**
   * One page of a tenant's objects of one type (tenant '' for resources without a tenant). An
   * object's id is its key (shape.ts: joinKey); a singleton's one document has the id "".
   */
  listPage(resource: Resource, tenant: string, cursor: string | undefined, limit: number): Promise<Page>
  /** The object, or undefined when the store says 404. */
  get(resource: Resource, tenant: string, id: string): Promise<unknown>
  /**
   * Optional: the object with its ETag, for conditional writes. An adapter without it (or
   * without `conditionalWrites`) is written to unconditionally.
   */
  getTagged?(resource: Resource, tenant: string, id: string): Promise<Tagged>
  /** True once the store has shown it does conditional writes: then writes carry a precondition. */
  readonly conditionalWrites?: boolean
  /** Throws PreconditionFailed when `precondition` does not hold. */
  put(resource: Resource, tenant: string, id: string, doc: unknown, precondition?: Precondition): Promise<void>
  /**
   * Optional: a create or an update the way the resource's `write:` says (write-style.ts): to
   * the item at `id`, or to the collection. Resolves to the id the answer names at the step's
   * `idFrom`, if any. An adapter without it is written to with put().
   */
  send?(resource: Resource, tenant: string, step: WriteStep, id: string | undefined, doc: unknown, precondition?: Precondition): Promise<string | undefined>
  /** Deleting what is not there is success. */
  delete(resource: Resource, tenant: string, id: string, precondition?: Precondition): Promise<void>
  close(): Promise<void>
}

export class SyncHttpError extends Error {
  readonly status: number
  constructor(side: Side, method: string, path: string, status: number, body: string, message?: string) {
    // An upstream may echo what it was sent: the credentials this process sends are masked.
    super(message ?? `${side} answered ${status} to ${method} ${path}: ${maskCredentials(body.slice(0, 200))}`)
    this.name = 'SyncHttpError'
    this.status = status
  }
}

/** 401 or 403: the store refused the sync's credentials (or wants some). */
export class CredentialsRefused extends SyncHttpError {
  constructor(side: Side, method: string, path: string, status: number, body: string, sent: string) {
    const what = sent === 'none' ? 'the sync sends no credentials to it' : `the sync sent ${sent}`
    super(side, method, path, status, body, `${status} from ${side}: check upstreams.${side}.headers (${what}; ${method} ${path} answered: ${maskCredentials(body.slice(0, 200)) || 'no body'})`)
    this.name = 'CredentialsRefused'
  }
}

/** The store answered 412: the object is no longer what the sync read (someone else wrote it). */
export class PreconditionFailed extends SyncHttpError {
  constructor(side: Side, method: string, path: string, body: string) {
    super(side, method, path, 412, body)
    this.name = 'PreconditionFailed'
  }
}

/** Why a key could not be applied, for `dualread_sync_errors_total`: what an operator would do differs for each. */
export type SyncErrorReason = 'credentials' | 'conflicting_writer' | 'rejected' | 'upstream_error' | 'unreachable' | 'unpaired_reference' | 'other'

/**
 * An object whose links name objects (of a type whose stores assign their own ids) that the id
 * map pairs with nothing on the target yet: written as it is, the target's copy would name an
 * object the target does not have, or another one.
 */
export class UnpairedReference extends Error {
  constructor(target: Side, links: UnpairedLink[]) {
    const named = links.map(l => `${l.type} "${l.id}" (at ${l.pointer})`).join(', ')
    super(`it names ${named}, which the id map pairs with no object of the ${target} store yet; the sync writes it once the named object is copied and paired`)
    this.name = 'UnpairedReference'
  }
}

export function syncErrorReason(err: unknown): SyncErrorReason {
  if (err instanceof Error && !(err instanceof SyncHttpError) && err.cause !== undefined) return syncErrorReason(err.cause)
  if (err instanceof CredentialsRefused) return 'credentials'
  if (err instanceof PreconditionFailed) return 'conflicting_writer'
  if (err instanceof UnpairedReference) return 'unpaired_reference'
  if (err instanceof SyncHttpError) return err.status < 500 ? 'rejected' : 'upstream_error'
  // A connection refused, reset or timed out (Node's and undici's errors carry a code).
  return typeof (err as { code?: unknown }).code === 'string' ? 'unreachable' : 'other'
}

/** Does a resource's listing path (collection or singleton) carry the tenant? Resources without one are synced once. */
export function isTenantScoped(resource: Resource, policy: Policy): boolean {
  return listingPath(resource).split('/').includes(`:${policy.identity.tenant.pathParam}`)
}

export class RestAdapter implements ResourceAdapter {
  readonly side: Side
  #connections: BoundedPool
  /** Calls wait up to the upstream's queueTimeoutMs for one of its sync connections, then fail (the loop retries). */
  #pool: Dispatcher
  #base: string
  #policy: Policy
  #throttle: Throttle
  #metrics: Metrics
  #timeoutMs: number
  #attributes: { upstream: Side, role: 'sync' }
  #conditional = false
  #credentials: UpstreamHeaders

  /** `o.credentials`: where env values and the time come from for upstreams.<side>.headers (tests inject them). */
  constructor(side: Side, policy: Policy, throttle: Throttle, metrics: Metrics, o: { credentials?: UpstreamHeadersOptions } = {}) {
    this.side = side
    this.#policy = policy
    this.#credentials = new UpstreamHeaders(side, policy.upstreams[side].headers, o.credentials)
    const upstream = policy.upstreams[side]
    this.#connections = new BoundedPool(upstream.url, {
      side, role: 'sync', connections: upstream.connections.sync, timeoutMs: upstream.timeoutMs,
      onRefused: () => metrics.queueTimeouts.add(1, { upstream: side, pool: 'sync' }),
    })
    this.#pool = this.#connections.waiting(upstream.queueTimeoutMs)
    this.#base = new URL(upstream.url).pathname.replace(/\/$/, '')
    this.#throttle = throttle
    this.#metrics = metrics
    this.#timeoutMs = upstream.timeoutMs
    this.#attributes = { upstream: side, role: 'sync' }
  }

  async listTenants(): Promise<string[]> {
    const t = this.#policy.sync.tenants
    if (!t) return []
    const [items, id, next] = [parsePointer(t.items), parsePointer(t.id), parsePointer(t.next)]
    const tenants: string[] = []
    let cursor: string | undefined
    do {
      const query = cursor === undefined ? '' : `?${t.cursorParam}=${encodeURIComponent(cursor)}`
      const page = await this.#json(`${t.list}${query}`)
      const list = valueAt(page, items)
      if (!Array.isArray(list)) throw new Error(`${this.side}: the tenant list at ${t.list} has no array at ${t.items}`)
      for (const item of list) tenants.push(String(valueAt(item, id)))
      cursor = cursorOf(valueAt(page, next))
    } while (cursor !== undefined)
    return tenants
  }

  async listPage(resource: Resource, tenant: string, cursor: string | undefined, limit: number): Promise<Page> {
    if (resource.singleton !== undefined) {
      const { body } = await this.#request('GET', this.#fill(resource.singleton, tenant), { notFoundIsAbsent: true })
      return { items: body === undefined ? [] : [{ id: '', doc: body }], next: undefined }
    }
    const { list } = resource
    // A top-level array is the whole list: it has nowhere to say there is more, so no page is asked for.
    const whole = list.items === ''
    const params = new URLSearchParams(whole ? {} : { [list.limitParam]: String(limit) })
    if (cursor !== undefined && !whole) params.set(list.cursorParam, cursor)
    const query = params.size === 0 ? '' : `?${params.toString()}`
    const path = `${this.#fill(resource.collection!, tenant)}${query}`
    const page = await this.#json(path)
    const items = valueAt(page, parsePointer(list.items))
    if (!Array.isArray(items)) throw new Error(`${this.side}: ${path} has no item list at ${whole ? 'the top level (list.items: "")' : list.items}`)
    // With a natural key an object's key is its natural key: the sync pairs the stores' objects by it.
    const pointers = pairingPointers(resource)
    const keyAt = pointers.map(parsePointer)
    const absent = absentTest(resource.absentWhen)
    const check = resource.naturalKey === undefined ? 'id and params' : 'naturalKey'
    return {
      items: items.flatMap((doc: unknown, i) => {
        if (absent(doc)) return []
        const parts = keyAt.map(p => valueAt(doc, p))
        const missing = parts.indexOf(undefined)
        if (missing !== -1) throw new Error(`${this.side}: item ${i} of ${path} has nothing at ${pointers[missing]}, which identifies it (check the resource's ${check})`)
        return [{ id: joinKey(parts.map(v => typeof v === 'string' ? v : canonicalJson(v))), doc }]
      }),
      next: whole ? undefined : cursorOf(valueAt(page, parsePointer(list.next))),
    }
  }

  /**
   * Learned, not configured: true once any answer of this store (an item, a list page, a write)
   * carried a strong ETag. Until then writes go unconditionally, as to a store without ETags.
   */
  get conditionalWrites(): boolean {
    return this.#conditional
  }

  async get(resource: Resource, tenant: string, id: string): Promise<unknown> {
    return (await this.getTagged(resource, tenant, id)).doc
  }

  async getTagged(resource: Resource, tenant: string, id: string): Promise<Tagged> {
    const { body, etag } = await this.#request('GET', this.#objectPath(resource, tenant, id), { notFoundIsAbsent: true })
    return { doc: body, etag }
  }

  async put(resource: Resource, tenant: string, id: string, doc: unknown, precondition?: Precondition): Promise<void> {
    await this.send(resource, tenant, { method: resource.write.method, path: 'item', idFrom: undefined }, id, doc, precondition)
  }

  async send(resource: Resource, tenant: string, step: WriteStep, id: string | undefined, doc: unknown, precondition?: Precondition): Promise<string | undefined> {
    const path = step.path === 'collection' ? this.#fill(resource.collection!, tenant) : this.#objectPath(resource, tenant, id!)
    const { body } = await this.#request(step.method, path, { body: doc, precondition })
    if (step.idFrom === undefined) return undefined
    // An answer without an id there is not an error: the next scan pairs the object by natural key.
    const given = valueAt(body, parsePointer(step.idFrom))
    return given === undefined ? undefined : String(given)
  }

  async delete(resource: Resource, tenant: string, id: string, precondition?: Precondition): Promise<void> {
    await this.#request('DELETE', this.#objectPath(resource, tenant, id), { notFoundIsAbsent: true, precondition })
  }

  /** Where one object lives: the singleton's path, or the item path filled in from its key. */
  #objectPath(resource: Resource, tenant: string, key: string): string {
    if (resource.singleton !== undefined) return this.#fill(resource.singleton, tenant)
    if (resource.item === undefined) throw new Error(`${resource.type} has no item path: the sync cannot read or write one of its objects`)
    return this.#fill(resource.item, tenant, key)
  }

  #fill(pattern: string, tenant: string, key = ''): string {
    return fillPath(pattern, this.#policy.identity.tenant.pathParam, tenant, key)
  }

  async #json(path: string): Promise<unknown> {
    return (await this.#request('GET', path, {})).body
  }

  /** One exchange (429s waited out); the parsed body, and the answer's strong ETag if any. */
  async #request(method: 'GET' | 'PUT' | 'POST' | 'PATCH' | 'DELETE', path: string, o: { body?: unknown, notFoundIsAbsent?: boolean, precondition?: Precondition | undefined }): Promise<{ body: unknown, etag: string | undefined }> {
    const { body, precondition } = o
    const own: Record<string, string> = body === undefined ? {} : { 'content-type': 'application/json' }
    if (precondition && 'ifMatch' in precondition) own['if-match'] = precondition.ifMatch
    if (precondition && 'ifNoneMatch' in precondition) own['if-none-match'] = precondition.ifNoneMatch
    // Refused credentials are read again once: a Secret rotated since the last read has new ones.
    let reread = false
    for (;;) {
      const headers = { ...await this.#credentials.values(reread), ...own }
      await this.#throttle.acquire(method !== 'GET')
      const started = performance.now()
      let res
      try {
        res = await this.#pool.request({
          method, path: this.#base + path, headers,
          body: body === undefined ? undefined : JSON.stringify(body),
          headersTimeout: this.#timeoutMs, bodyTimeout: this.#timeoutMs,
        })
      } catch (err) {
        this.#throttle.failed()
        throw err
      }
      const ms = performance.now() - started
      this.#metrics.upstreamDuration.record(ms / 1000, this.#attributes)
      this.#throttle.observe(res.statusCode, ms, retryAfterMs(res.headers['retry-after']))
      // A 429 is the upstream asking for time, not a failure: wait as asked and try again.
      if (res.statusCode === 429) {
        await res.body.dump()
        continue
      }
      if (o.notFoundIsAbsent && res.statusCode === 404) {
        await res.body.dump()
        return { body: undefined, etag: undefined }
      }
      if (res.statusCode === 401 || res.statusCode === 403) {
        const text = await res.body.text()
        if (!reread && await this.#credentials.refresh()) {
          reread = true
          continue
        }
        throw new CredentialsRefused(this.side, method, path, res.statusCode, text, this.#credentials.describe())
      }
      if (res.statusCode === 412) throw new PreconditionFailed(this.side, method, path, await res.body.text())
      if (res.statusCode >= 300) throw new SyncHttpError(this.side, method, path, res.statusCode, await res.body.text())
      const etag = strongEtag(res.headers['etag'])
      if (etag !== undefined) this.#conditional = true
      const text = await res.body.text()
      return { body: text === '' ? undefined : JSON.parse(text), etag }
    }
  }

  async close(): Promise<void> {
    await this.#connections.close()
  }
}

/**
 * A weak ETag (`W/"…"`) never satisfies If-Match (RFC 9110 §13.1.1 compares strongly), so only a
 * strong one is kept; a repeated header counts as none.
 */
function strongEtag(value: string | string[] | undefined): string | undefined {
  return typeof value === 'string' && value.startsWith('"') ? value : undefined
}

function cursorOf(value: unknown): string | undefined {
  return value === undefined || value === null || value === '' ? undefined : String(value)
}
