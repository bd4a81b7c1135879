// The reference alerting API over HTTP. The flavour in force shapes what is stored and answered;
// its fault knobs slow, fail or rate-limit the API, never the probes or the flavour switch, so a
// demo can always turn a fault off again.
//
//   GET  /  /healthz                               probes
//   GET  /_flavour   POST /_flavour {partial}      the flavour in force; change some of its keys
//   GET  /api/v1/tenants?cursor=&limit=            { items: [{ id }], nextCursor }
//   PUT  /api/v1/tenants/:tenant                   lists a tenant that has no objects yet
//   GET  /api/v1/tenants/:tenant/<collection>?cursor=&limit=   { items, nextCursor }
//   POST /api/v1/tenants/:tenant/<collection>      201, a new server-assigned id (serverIds: a body
//                                                  id naming a stored object updates it instead)
//   GET | PUT | DELETE  .../<collection>/:id       read, upsert with a client id, delete (204)
//
// With the etags flavour, answers with a body carry an ETag, and item PUT and DELETE honour
// If-Match and If-None-Match (412 Precondition Failed when one does not hold).
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import Router from 'find-my-way'
import { changeFlavour, PLAIN_FLAVOUR, shapeRead, shapeWrite, type Flavour } from './flavours.ts'
import { encodeCursor, readPageRequest } from './pagination.ts'
import { etagOf, failedPrecondition } from './preconditions.ts'
import { TokenBucket } from './rate-limit.ts'
import { COLLECTIONS, RESOURCE_TYPES, type ResourceType } from './resource-types.ts'
import { seedStore, type SeedOptions } from './seed.ts'
import { ReferenceStore } from './store.ts'

const DEFAULT_HOST = '127.0.0.1'
const MAX_BODY_BYTES = 1024 * 1024

export interface ReferenceApiOptions {
  /** Default 0: a free ephemeral port. */
  port?: number
  /** Default 127.0.0.1. */
  host?: string
  flavour?: Partial<Flavour>
  /** Content to start with; default an empty store. */
  seed?: SeedOptions
  /** Draws for errorRate and rejectWritesPercent, in [0, 1); default Math.random. */
  random?: () => number
  /**
   * For tests: awaited before each request is handled, to record what arrived or to make
   * another write land at exactly that moment; a `{ status, body? }` it resolves to is the answer
   * instead (a store that refuses one object).
   */
  onRequest?: (req: IncomingMessage) => unknown
}

export interface ReferenceApi {
  /** `http://host:port`, no trailing slash. */
  readonly url: string
  /** Direct access for tests: bypasses HTTP, flavours and faults. */
  readonly store: ReferenceStore
  /** The flavour in force (frozen: change it with setFlavour). */
  readonly flavour: Readonly<Flavour>
  /** Changes the given flavour keys, as POST /_flavour does; throws on an invalid change. */
  setFlavour(change: Partial<Flavour>): void
  close(): Promise<void>
}

interface Reply {
  status: number
  body?: unknown
  headers?: Record<string, string>
}

function isReply(value: unknown): value is Reply {
  return typeof value === 'object' && value !== null && typeof (value as Reply).status === 'number'
}

interface Exchange {
  req: IncomingMessage
  params: Record<string, string | undefined>
  query: Record<string, string | string[] | undefined>
}

interface Route {
  handle(exchange: Exchange): Reply | Promise<Reply>
  /** Probes and the flavour switch: never slowed, failed or rate limited. */
  control?: boolean
}

const NOT_FOUND: Reply = { status: 404, body: { error: 'not_found' } }
const NOT_FOUND_ROUTE: Route = { handle: () => NOT_FOUND }

/**
 * Starts the reference alerting API.
 *
 * @example
 * const api = await startReferenceApi({ seed: { tenants: ['acme'], perType: 5 }, flavour: { normalizeDurations: true } })
 * await fetch(`${api.url}/api/v1/tenants/acme/alert-rules?limit=2`)
 * api.setFlavour({ lagMs: 500 })
 * await api.close()
 */
export async function startReferenceApi(options: ReferenceApiOptions = {}): Promise<ReferenceApi> {
  const { port = 0, host = DEFAULT_HOST, random = Math.random } = options
  const store = new ReferenceStore()
  if (options.seed) seedStore(store, options.seed)

  let flavour = PLAIN_FLAVOUR
  let bucket: TokenBucket | undefined
  /** What is wrong with `change`, or undefined once it is in force. */
  const changeTo = (change: unknown): string | undefined => {
    const next = changeFlavour(flavour, change)
    if (typeof next === 'string') return next
    if (next.rateLimit !== flavour.rateLimit) bucket = next.rateLimit > 0 ? new TokenBucket(next.rateLimit) : undefined
    flavour = next
    return undefined
  }
  const setFlavour = (change: Partial<Flavour>): void => {
    const problem = changeTo(change)
    if (problem) throw new Error(`invalid reference API flavour: ${problem}`)
  }
  setFlavour(options.flavour ?? {})

  const router = buildRouter({ store, flavour: () => flavour, changeFlavour: changeTo, rejectsWrite: () => random() * 100 < flavour.rejectWritesPercent })

  const fault = (): Reply | undefined => {
    if (bucket && !bucket.take()) {
      return { status: 429, headers: { 'retry-after': '1' }, body: { error: 'rate_limited', detail: `over ${flavour.rateLimit} requests per second` } }
    }
    if (random() < flavour.errorRate) return { status: 500, body: { error: 'injected_fault', detail: 'errorRate' } }
    return undefined
  }

  const respond = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const found = router.find(req.method as Router.HTTPMethod, req.url!)
    // An empty tenant or id (`/tenants//teams`) addresses nothing.
    const route: Route = found && Object.values(found.params).every(Boolean) ? found.store as Route : NOT_FOUND_ROUTE
    const exchange: Exchange = { req, params: found?.params ?? {}, query: found?.searchParams ?? {} }
    const answer = await options.onRequest?.(req)
    if (isReply(answer)) return send(res, answer)
    if (route.control) return send(res, await route.handle(exchange))
    if (flavour.latencyMs > 0) await sleep(flavour.latencyMs)
    const refused = fault()
    if (refused) return send(res, refused)
    const reply = await route.handle(exchange)
    send(res, flavour.etags && reply.status < 300 && reply.body !== undefined ? { ...reply, headers: { ...reply.headers, etag: etagOf(reply.body) } } : reply)
  }

  const server = createServer((req, res) => {
    // A client hanging up mid-body ends here (it sees its connection drop, whatever is sent);
    // so would a bug, as a 500 that names it.
    respond(req, res).catch((err: Error) => send(res, { status: 500, body: { error: 'internal', detail: err.message } }))
  })
  server.listen(port, host)
  await once(server, 'listening')
  const address = server.address() as AddressInfo
  let closed: Promise<void> | undefined
  return {
    url: `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`,
    store,
    get flavour() { return flavour },
    setFlavour,
    close() {
      closed ??= new Promise(resolve => server.close(() => resolve()))
      return closed
    },
  }
}

interface Api {
  store: ReferenceStore
  flavour(): Flavour
  changeFlavour(change: unknown): string | undefined
  /** Whether this write is answered as stored but dropped (rejectWritesPercent). */
  rejectsWrite(): boolean
}

function buildRouter(api: Api) {
  const { store } = api
  const router = Router({ ignoreTrailingSlash: true })
  const on = (methods: Router.HTTPMethod[], path: string, route: Route) => router.on(methods, path, Function.prototype as () => void, route)
  const health: Route = { control: true, handle: () => ok({ ok: true, service: 'dualread reference alerting API' }) }

  on(['GET', 'HEAD'], '/', health)
  on(['GET', 'HEAD'], '/healthz', health)
  on(['GET'], '/_flavour', { control: true, handle: () => ok(api.flavour()) })
  on(['POST'], '/_flavour', {
    control: true,
    async handle({ req }) {
      const read = await readObject(req)
      if ('reply' in read) return read.reply
      const problem = api.changeFlavour(read.body)
      return problem ? badRequest(problem) : ok(api.flavour())
    },
  })

  on(['GET', 'HEAD'], '/api/v1/tenants', {
    handle({ query }) {
      const request = readPageRequest(query)
      if (typeof request === 'string') return badRequest(request)
      const { items, more } = store.tenants(request)
      return pageReply(items.map(id => ({ id })), items.at(-1), more, api.flavour())
    },
  })
  on(['PUT'], '/api/v1/tenants/:tenant', {
    handle({ params }) {
      store.addTenant(params['tenant']!)
      return ok({ id: params['tenant'] })
    },
  })

  for (const type of RESOURCE_TYPES) {
    const collection = `/api/v1/tenants/:tenant/${COLLECTIONS[type]}`
    on(['GET', 'HEAD'], collection, {
      handle({ params, query }) {
        const request = readPageRequest(query)
        if (typeof request === 'string') return badRequest(request)
        const flavour = api.flavour()
        const { items, more } = store.list(type, params['tenant']!, { ...request, view: 'visible' })
        return pageReply(items.map(item => shapeRead(item, flavour)), items.at(-1)?.id, more, flavour)
      },
    })
    on(['POST'], collection, {
      async handle({ req, params }) {
        const read = await readWritable(req)
        if ('reply' in read) return read.reply
        const tenant = params['tenant']!
        const named = read.body['id']
        if (api.flavour().serverIds && typeof named === 'string' && named !== '') {
          // Alertmanager's way: a POST naming a stored object updates it.
          return store.get(type, tenant, named) ? ok(write(api, type, tenant, named, read.body)) : { status: 404, body: { error: 'not_found', detail: `no ${type} ${named} to update` } }
        }
        const id = randomUUID()
        const location = `/api/v1/tenants/${encodeURIComponent(tenant)}/${COLLECTIONS[type]}/${id}`
        return { status: 201, headers: { location }, body: write(api, type, tenant, id, read.body) }
      },
    })
    on(['GET', 'HEAD'], `${collection}/:id`, {
      handle({ params }) {
        const object = store.get(type, params['tenant']!, params['id']!, 'visible')
        return object ? ok(shapeRead(object, api.flavour())) : NOT_FOUND
      },
    })
    on(['PUT'], `${collection}/:id`, {
      async handle({ req, params }) {
        const read = await readWritable(req)
        if ('reply' in read) return read.reply
        const [tenant, id] = [params['tenant']!, params['id']!]
        if (api.flavour().serverIds && !store.get(type, tenant, id)) return { status: 404, body: { error: 'not_found', detail: 'this store assigns ids: create with POST to the collection' } }
        return preconditionReply(api, req, type, tenant, id) ?? ok(write(api, type, tenant, id, read.body))
      },
    })
    on(['DELETE'], `${collection}/:id`, {
      handle({ req, params }) {
        const [tenant, id] = [params['tenant']!, params['id']!]
        const failed = preconditionReply(api, req, type, tenant, id)
        if (failed) return failed
        if (!store.get(type, tenant, id)) return NOT_FOUND
        if (!api.rejectsWrite()) store.delete(type, tenant, id, { lagMs: api.flavour().lagMs })
        return { status: 204 }
      },
    })
  }
  return router
}

/** Stores `body` as the flavour shapes it (or only pretends to), and answers what a read would. */
function write(api: Api, type: ResourceType, tenant: string, id: string, body: Record<string, unknown>): unknown {
  const flavour = api.flavour()
  const shaped = shapeWrite(body, flavour)
  const object = api.rejectsWrite()
    ? api.store.preview(type, tenant, id, shaped)
    : api.store.put(type, tenant, id, shaped, { lagMs: flavour.lagMs })
  return shapeRead(object, flavour)
}

/** 412 when the etags flavour is on and the write's If-Match / If-None-Match do not hold for the object now. */
function preconditionReply(api: Api, req: IncomingMessage, type: ResourceType, tenant: string, id: string): Reply | undefined {
  const flavour = api.flavour()
  if (!flavour.etags) return undefined
  const current = api.store.get(type, tenant, id)
  const detail = failedPrecondition(req.headers, current && shapeRead(current, flavour))
  return detail === undefined ? undefined : { status: 412, body: { error: 'precondition_failed', detail } }
}

function pageReply(items: unknown[], lastId: string | undefined, more: boolean, flavour: Flavour): Reply {
  return ok({ items: flavour.reorderLists ? items.toReversed() : items, nextCursor: more ? encodeCursor(lastId!) : null })
}

type Read = { body: Record<string, unknown> } | { reply: Reply }

/** A JSON object body whose `version`, if any, is a number. */
async function readWritable(req: IncomingMessage): Promise<Read> {
  const read = await readObject(req)
  if ('body' in read && read.body['version'] !== undefined && typeof read.body['version'] !== 'number') {
    return { reply: badRequest('version must be a number when given (or left out, to count up from the stored version)') }
  }
  return read
}

async function readObject(req: IncomingMessage): Promise<Read> {
  let size = 0
  const chunks: Buffer[] = []
  // Read to the end even when too large, so the client gets the 413 rather than a reset.
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size <= MAX_BODY_BYTES) chunks.push(chunk)
  }
  if (size > MAX_BODY_BYTES) return { reply: { status: 413, body: { error: 'too_large', detail: `a body is at most ${MAX_BODY_BYTES} bytes` } } }
  let value: unknown
  try {
    value = JSON.parse(Buffer.concat(chunks).toString('utf8'))
  } catch {
    value = undefined
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { reply: badRequest('the body must be a JSON object') }
  return { body: value as Record<string, unknown> }
}

function ok(body: unknown): Reply {
  return { status: 200, body }
}

function badRequest(detail: string): Reply {
  return { status: 400, body: { error: 'bad_request', detail } }
}

function send(res: ServerResponse, reply: Reply): void {
  if (reply.body === undefined) {
    res.writeHead(reply.status, reply.headers)
    res.end()
    return
  }
  const text = JSON.stringify(reply.body)
  res.writeHead(reply.status, { ...reply.headers, 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}
