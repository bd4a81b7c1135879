// What /ui reads of the /status document, recorded in the browser, checked against the JSON
// Schema that /status/schema serves: a field the page reads that the schema does not have is a
// page drawn from a document that does not exist.
import type { Page } from 'playwright-core'

const SEP = '\u0000'
const ITEM = '[]'

/** Before the page loads: every /status document it parses is wrapped so that its reads are recorded. */
export async function recordStatusReads(page: Page): Promise<void> {
  await page.addInitScript(([sep, item]) => {
    const reads = new Set<string>()
    Object.assign(window, { statusReads: reads })
    const wrap = (value: unknown, path: string[]): unknown => {
      if (value === null || typeof value !== 'object') return value
      return new Proxy(value, {
        get(target, key, receiver) {
          const v = Reflect.get(target, key, receiver) as unknown
          if (typeof key === 'symbol') return v
          if (Array.isArray(target)) return /^\d+$/.test(key) ? wrap(v, [...path, item]) : v
          // What every object has (toString in a template, toJSON in JSON.stringify), or `then`
          // looked up on the document when json() resolves with it, is no field.
          if (key in Object.prototype || key === 'toJSON' || (key === 'then' && path.length === 0)) return v
          reads.add([...path, key].join(sep))
          return wrap(v, [...path, key])
        },
      })
    }
    const json = Response.prototype.json
    Response.prototype.json = async function (this: Response) {
      const body = await json.call(this) as unknown
      return new URL(this.url).pathname.endsWith('/status') ? wrap(body, []) : body
    }
  }, [SEP, ITEM] as const)
}

/** The fields read so far, as dotted paths (`[]` for any item of an array). */
export async function statusReads(page: Page): Promise<string[]> {
  const reads = await page.evaluate(() => [...(window as unknown as { statusReads: Set<string> }).statusReads])
  return reads.map(r => r.split(SEP).join('.')).sort()
}

type JsonSchema = { [key: string]: unknown }

/** The paths of `reads` that `schema` has no place for. */
export function missingFromSchema(reads: string[], schema: JsonSchema): string[] {
  return reads.filter(r => !has(schema, r.split('.')))
}

function has(node: JsonSchema, path: string[]): boolean {
  if (path.length === 0) return true
  const alternatives = ['anyOf', 'oneOf', 'allOf'].flatMap(k => (node[k] as JsonSchema[] | undefined) ?? [])
  // Nothing said of what it holds (z.unknown()): anything may be read below it.
  if (alternatives.length === 0 && !('type' in node) && !('properties' in node) && !('items' in node) && !('const' in node) && !('enum' in node)) return true
  if (alternatives.some(alt => has(alt, path))) return true
  const [head, ...rest] = path as [string, ...string[]]
  if (head === ITEM) return node['items'] !== undefined && has(node['items'] as JsonSchema, rest)
  const properties = node['properties'] as Record<string, JsonSchema> | undefined
  if (properties?.[head]) return has(properties[head], rest)
  const additional = node['additionalProperties']
  return typeof additional === 'object' && additional !== null && has(additional as JsonSchema, rest)
}
