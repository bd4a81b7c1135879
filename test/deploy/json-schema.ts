// A small JSON Schema (draft-07) validator for the keywords values.schema.json uses, so the chart's
// values are checked without helm. It refuses a schema with any other keyword rather than
// ignoring it: `unsupportedKeywords` lists them, and the chart test requires that list be empty.
// (helm lint, when helm is there, validates with a complete implementation.)

export interface Schema {
  $schema?: string
  title?: string
  description?: string
  type?: JsonType | JsonType[]
  properties?: Record<string, Schema>
  required?: string[]
  additionalProperties?: boolean | Schema
  items?: Schema
  enum?: unknown[]
  minimum?: number
  maximum?: number
  minLength?: number
  pattern?: string
}

type JsonType = 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean' | 'null'

const KEYWORDS = new Set(['$schema', 'title', 'description', 'type', 'properties', 'required', 'additionalProperties', 'items', 'enum', 'minimum', 'maximum', 'minLength', 'pattern'])

/** Keywords this validator would not enforce, with where they are. */
export function unsupportedKeywords(schema: Schema, at = '#'): string[] {
  const own = Object.keys(schema).filter(k => !KEYWORDS.has(k)).map(k => `${at}/${k}`)
  const nested = [
    ...Object.entries(schema.properties ?? {}).map(([k, s]) => unsupportedKeywords(s, `${at}/properties/${k}`)),
    typeof schema.additionalProperties === 'object' ? unsupportedKeywords(schema.additionalProperties, `${at}/additionalProperties`) : [],
    schema.items ? unsupportedKeywords(schema.items, `${at}/items`) : [],
  ]
  return [...own, ...nested.flat()]
}

function typeOf(value: unknown): JsonType {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'array'
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number'
  return typeof value as JsonType
}

/** The problems of `value` against `schema`, each as "at PATH: what"; empty when it is valid. */
export function validate(schema: Schema, value: unknown, path = ''): string[] {
  const at = path || '/'
  const actual = typeOf(value)
  if (schema.type !== undefined) {
    const allowed = ([] as JsonType[]).concat(schema.type)
    const fits = allowed.includes(actual) || (actual === 'integer' && allowed.includes('number'))
    if (!fits) return [`at ${at}: expected ${allowed.join(' or ')}, got ${actual}`]
  }
  const problems: string[] = []
  if (schema.enum && !schema.enum.includes(value)) problems.push(`at ${at}: ${JSON.stringify(value)} is not one of ${JSON.stringify(schema.enum)}`)
  if (typeof value === 'number') {
    if (schema.minimum !== undefined && value < schema.minimum) problems.push(`at ${at}: ${value} is below ${schema.minimum}`)
    if (schema.maximum !== undefined && value > schema.maximum) problems.push(`at ${at}: ${value} is above ${schema.maximum}`)
  }
  if (typeof value === 'string') {
    if (schema.minLength !== undefined && value.length < schema.minLength) problems.push(`at ${at}: shorter than ${schema.minLength}`)
    if (schema.pattern !== undefined && !new RegExp(schema.pattern, 'u').test(value)) problems.push(`at ${at}: ${JSON.stringify(value)} does not match ${schema.pattern}`)
  }
  if (actual === 'array' && schema.items) {
    (value as unknown[]).forEach((item, i) => problems.push(...validate(schema.items!, item, `${path}/${i}`)))
  }
  if (actual === 'object') {
    const object = value as Record<string, unknown>
    for (const key of schema.required ?? []) if (!(key in object)) problems.push(`at ${at}: ${key} is required`)
    for (const [key, v] of Object.entries(object)) {
      const property = schema.properties?.[key]
      if (property) problems.push(...validate(property, v, `${path}/${key}`))
      else if (schema.additionalProperties === false) problems.push(`at ${at}: ${key} is not allowed`)
      else if (typeof schema.additionalProperties === 'object') problems.push(...validate(schema.additionalProperties, v, `${path}/${key}`))
    }
  }
  return problems
}
