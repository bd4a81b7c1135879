// Reading an admin server's documents (GET /status, GET /evidence) the way the CLI and the demo
// do: the answer is checked against the schema, and one of another version of dualread (a field
// missing, or of another type) is an error that says which fields and what to do.
import type { z } from 'zod'
import { evidenceHistory, historyReport, statusDocument, type EvidenceHistory, type HistoryReport, type StatusDocumentOut } from './schema.ts'

/** The admin server answered, but not with a document of this version's shape; or not 2xx. */
export class AdminAnswerError extends Error {}

/** At most this many fields are named in an error; the rest are counted. */
const NAMED_ISSUES = 5

/**
 * GET `path` from the admin server at `admin`, parsed with `schema`.
 * @example const status = await readAdmin('http://127.0.0.1:9090', '/status', statusDocument, {})
 */
export async function readAdmin<S extends z.ZodType>(admin: string, path: string, schema: S, headers: Record<string, string>): Promise<z.output<S>> {
  const url = new URL(path, admin)
  const res = await fetch(url, { headers })
  if (!res.ok) throw new AdminAnswerError(`the admin server answered ${res.status} to ${url.pathname}: ${errorDetail(await res.text())}`)
  return parseAnswer(admin, url.pathname, schema, await res.json())
}

/** The `detail` of an admin error document; the text itself when it is not one. */
function errorDetail(text: string): string {
  try {
    const detail = (Object(JSON.parse(text)) as { detail?: unknown }).detail
    return typeof detail === 'string' ? detail : text
  } catch {
    return text
  }
}

/** `body` checked against `schema`; an AdminAnswerError naming what does not fit otherwise. */
export function parseAnswer<S extends z.ZodType>(admin: string, path: string, schema: S, body: unknown): z.output<S> {
  const parsed = schema.safeParse(body)
  if (parsed.success) return parsed.data
  const issues = parsed.error.issues
  const named = issues.slice(0, NAMED_ISSUES).map(i => `${i.path.length > 0 ? i.path.join('.') : '(the document)'}: ${i.path.length > 0 && valueAt(body, i.path) === undefined ? 'missing' : i.message}`)
  const more = issues.length > NAMED_ISSUES ? ` and ${issues.length - NAMED_ISSUES} more` : ''
  return fail(`the admin server at ${admin} answered a ${path} this dualread cannot read (${named.join('; ')}${more}): is it running another version of dualread? Use the dualread CLI of the same version as the server`)
}

function valueAt(body: unknown, path: readonly PropertyKey[]): unknown {
  let v = body
  for (const key of path) v = (Object(v) as Record<PropertyKey, unknown>)[key]
  return v
}

function fail(message: string): never {
  throw new AdminAnswerError(message)
}

export const readStatus = (admin: string, headers: Record<string, string>): Promise<StatusDocumentOut> => readAdmin(admin, '/status', statusDocument, headers)

export const readEvidenceHistory = (admin: string, step: 'hour' | 'day', headers: Record<string, string>): Promise<EvidenceHistory> =>
  readAdmin(admin, `/evidence?step=${step}`, evidenceHistory, headers)

export const readHistory = (admin: string, limit: string, headers: Record<string, string>): Promise<HistoryReport> =>
  readAdmin(admin, `/history?limit=${encodeURIComponent(limit)}`, historyReport, headers)
