// Turns policy text into a validated Policy, or into problems that name file, line, key and fix.
import { createHash } from 'node:crypto'
import { LineCounter, parseDocument, type Document } from 'yaml'
import type { z } from 'zod'
import leven from 'leven'
import { policySchema, type Policy } from './schema.ts'
import { checkReferences } from './references.ts'
import { checkSemantics } from './semantic.ts'
import { checkCredentials } from '../credentials/check.ts'
import { formatKey, locate, type KeyPath, type PolicyProblem } from './problems.ts'
import { toPlainData } from './yaml-data.ts'

export type ParseResult =
  | { ok: true, policy: Policy, hash: string, warnings: PolicyProblem[] }
  | { ok: false, errors: PolicyProblem[], warnings: PolicyProblem[], hash: string }

export function hashPolicyText(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 16)
}

/**
 * Parses and fully validates a policy: YAML syntax, the schema, then cross-key semantics.
 * @example
 * const result = parsePolicy(readFileSync(file, 'utf8'), file)
 * if (!result.ok) for (const e of result.errors) console.error(formatProblem(e))
 */
export function parsePolicy(text: string, file: string): ParseResult {
  const hash = hashPolicyText(text)
  const lines = new LineCounter()
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true })
  if (doc.errors.length > 0) {
    const errors = doc.errors.map((e): PolicyProblem => {
      const pos = lines.linePos(e.pos[0])
      return {
        file, line: pos.line, column: pos.col, key: '(yaml)', severity: 'error',
        message: e.message.replace(/\n[\s\S]*/, ''),
        fix: 'fix the YAML syntax at this position (indentation, a missing ":" or an unclosed quote or bracket)',
      }
    })
    return { ok: false, errors, warnings: [], hash }
  }
  const data = toPlainData(doc, lines)
  if (!data.ok) {
    const { offset, message, fix } = data.problem
    const pos = lines.linePos(offset)
    return { ok: false, errors: [{ file, line: pos.line, column: pos.col, key: '(yaml)', severity: 'error', message, fix }], warnings: [], hash }
  }
  const parsed = policySchema.safeParse(data.data, { reportInput: true })
  if (!parsed.success) {
    const errors = parsed.error.issues.flatMap(issue => problemsFromIssue(issue, doc, lines, file))
    return { ok: false, errors, warnings: [], hash }
  }
  const problems = [...checkSemantics(parsed.data), ...checkReferences(parsed.data), ...checkCredentials(parsed.data)].map(({ path, severity, message, fix }): PolicyProblem => ({
    file, ...locate(doc, lines, path), key: formatKey(path), severity, message, fix,
  }))
  const errors = problems.filter(p => p.severity === 'error')
  const warnings = problems.filter(p => p.severity === 'warning')
  if (errors.length > 0) return { ok: false, errors, warnings, hash }
  return { ok: true, policy: parsed.data, hash, warnings }
}

function problemsFromIssue(issue: z.core.$ZodIssue, doc: Document, lines: LineCounter, file: string): PolicyProblem[] {
  const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol')
  const at = (p: KeyPath, message: string, fix: string): PolicyProblem => ({
    file, ...locate(doc, lines, p), key: formatKey(p), severity: 'error', message, fix,
  })
  const missing = (expected: string) => at(path, `required key is missing (expected ${expected})`, `add ${formatKey(path)} as ${expected}`)
  switch (issue.code) {
    case 'unrecognized_keys':
      return issue.keys.map(key => {
        const guess = closestKey(key)
        return at([...path, key], `unknown key "${key}"`, guess ? `did you mean "${guess}"? otherwise remove it` : 'remove it; see the policy reference in README.md')
      })
    case 'invalid_type':
      if (issue.input === undefined) return [missing(issue.expected)]
      return [at(path, `expected ${issue.expected}, got ${describe(issue.input)}`, `set it to ${issue.expected === 'array' ? 'a list' : withArticle(issue.expected)}`)]
    case 'invalid_value': {
      // zod reports a missing enum or literal key (`authority`, `version`) as an invalid value.
      const allowed = `one of: ${issue.values.map(v => String(v)).join(', ')}`
      if (issue.input === undefined) return [missing(allowed)]
      return [at(path, `${describe(issue.input)} is not allowed`, `use ${allowed}`)]
    }
    case 'too_small':
      return [at(path, `${describe(issue.input)} is too small: ${issue.message}`, `use a value ${bound(issue.inclusive, 'greater than', 'of at least')} ${String(issue.minimum)}`)]
    case 'too_big':
      return [at(path, `${describe(issue.input)} is too large: ${issue.message}`, `use a value ${bound(issue.inclusive, 'less than', 'of at most')} ${String(issue.maximum)}`)]
    case 'invalid_key': {
      // A record key (a header name, a pointer) that is not valid: the key's own rule says why.
      const inner = issue.issues.map(i => i.message).join('; ')
      return [at(path, `the key ${describe(path[path.length - 1])} is not valid: ${inner}`, inner.startsWith('expected') ? inner.replace(/^expected/, 'use') : 'see the policy reference in README.md')]
    }
    default:
      return [at(path, issue.message, issue.message.startsWith('expected') ? issue.message.replace(/^expected/, 'use') : 'see the policy reference in README.md')]
  }
}

/** zod marks `.positive()` and `.lt()` limits as exclusive, `.min()` and `.max()` as inclusive. */
function bound(inclusive: boolean | undefined, exclusiveWords: string, inclusiveWords: string): string {
  return inclusive === false ? exclusiveWords : inclusiveWords
}

function withArticle(noun: string): string {
  return /^[aeiou]/.test(noun) ? `an ${noun}` : `a ${noun}`
}

/** A short rendering of an offending value; it comes from parsed YAML, so it is never undefined. */
function describe(value: unknown): string {
  const text = JSON.stringify(value)
  return text.length > 60 ? `${text.slice(0, 57)}...` : text
}

const KNOWN_KEYS = collectKeys(policySchema)

function collectKeys(schema: z.ZodType, out = new Set<string>()): Set<string> {
  const def = (schema as unknown as { def: Record<string, unknown> }).def
  const inner = ['innerType', 'element', 'valueType', 'in', 'out'].map(k => def[k]).filter(Boolean) as z.ZodType[]
  for (const s of inner) collectKeys(s, out)
  const shape = def['shape'] as Record<string, z.ZodType> | undefined
  for (const [key, value] of Object.entries(shape ?? {})) {
    out.add(key)
    collectKeys(value, out)
  }
  return out
}

function closestKey(key: string): string | undefined {
  let best: string | undefined
  let bestDistance = Math.max(2, Math.floor(key.length / 4)) + 1
  for (const known of KNOWN_KEYS) {
    const d = leven(key.toLowerCase(), known.toLowerCase())
    if (d < bestDistance) { best = known; bestDistance = d }
  }
  return best
}
