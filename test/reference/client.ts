// A reference API started for one test (closed at teardown) and a JSON client for it.
import { startReferenceApi, type ReferenceApi, type ReferenceApiOptions, type StoredObject } from '../../src/reference/index.ts'

export interface Page {
  items: StoredObject[]
  nextCursor: string | null
}

export interface Problem {
  error: string
  detail?: string
}

export interface Answer<T> {
  status: number
  /** The parsed JSON body; undefined when there is none. */
  body: T
  headers: Headers
}

export async function startApi(t: { teardown(fn: () => unknown): void }, options: ReferenceApiOptions = {}): Promise<ReferenceApi> {
  const api = await startReferenceApi(options)
  t.teardown(() => api.close())
  return api
}

/** Sends `body` as JSON (a string is sent as it is) and reads the answer's JSON as `T`. */
export async function call<T = StoredObject>(api: ReferenceApi, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer<T>> {
  const res = await fetch(api.url + path, { method, headers, body: typeof body === 'string' || body === undefined ? body : JSON.stringify(body) })
  const text = await res.text()
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T, headers: res.headers }
}

/** Every id a walk through the list's pages returns, page by page. */
export async function walk(api: ReferenceApi, collection: string, limit: number, between: (page: number) => unknown = () => {}): Promise<string[][]> {
  const pages: string[][] = []
  for (let cursor: string | null = null; ;) {
    const query: string = `?limit=${limit}` + (cursor ? `&cursor=${cursor}` : '')
    const { status, body }: Answer<Page> = await call<Page>(api, 'GET', collection + query)
    if (status !== 200) throw new Error(`GET ${collection}${query} answered ${status}`)
    pages.push(body.items.map(item => item.id))
    cursor = body.nextCursor
    if (!cursor) return pages
    await between(pages.length)
  }
}
