// Mangled policy files never throw past the loader: every outcome is a policy or a rejection with
// file, line and reason. A fixed seed and a bounded number of runs keep it repeatable and quick.
import { readFileSync } from 'node:fs'
import fc from 'fast-check'
import t from 'tap'
import { loadPolicyText } from '../../src/policy/load.ts'
import { parsePolicy } from '../../src/policy/parse.ts'
import { compilePolicy } from '../../src/policy/compile.ts'
import { policyYaml, THREE_RULES } from '../helpers/policy.ts'
import { MINIMAL_FILE, REFERENCE_FILE } from './fixtures.ts'

const SEED = 20260408
const RUNS = 300

const BASES = [
  readFileSync(REFERENCE_FILE, 'utf8'),
  readFileSync(MINIMAL_FILE, 'utf8'),
  policyYaml({ oldUrl: 'http://127.0.0.1:8081', newUrl: 'http://127.0.0.1:8082', rules: THREE_RULES }),
]

/** Fragments that YAML gives meaning to: anchors, aliases, merge keys, tags, directives, flow and block markers. */
const FRAGMENTS = ['*old', '*a', '&a ', '&a [1, 2]', '<<: *a', '<<: 5', '!!binary ', '!!set ', '!!omap ', '!foo ', '%YAML 1.1\n---\n',
  '---\n', '...\n', '? ', ': ', '- ', '[', ']', '{', '}', ',', '"', "'", '|', '>', '#', '\t', '\n', '  ', '~', 'null', '0x1F', '1e400',
  '\u0000', '\uFEFF', '\u2028', '\\', '@', '`', 'é', '😀']

type Edit = { kind: 'insert', at: number, text: string } | { kind: 'delete', at: number, length: number }
  | { kind: 'duplicate', line: number } | { kind: 'swap', a: number, b: number } | { kind: 'alias', line: number, name: string }

const edit: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), text: fc.oneof(fc.constantFrom(...FRAGMENTS), fc.string({ maxLength: 6 })) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 40 }) }),
  fc.record({ kind: fc.constant('duplicate' as const), line: fc.nat() }),
  fc.record({ kind: fc.constant('swap' as const), a: fc.nat(), b: fc.nat() }),
  // `key: value` becomes `key: *name`, the edit in the report; and `&name` lands on another value.
  fc.record({ kind: fc.constant('alias' as const), line: fc.nat(), name: fc.constantFrom('old', 'a', 'x') }),
)

function applyEdit(text: string, e: Edit): string {
  const lines = text.split('\n')
  switch (e.kind) {
    case 'insert': { const at = e.at % (text.length + 1); return text.slice(0, at) + e.text + text.slice(at) }
    case 'delete': { const at = e.at % (text.length + 1); return text.slice(0, at) + text.slice(at + e.length) }
    case 'duplicate': { const i = e.line % lines.length; lines.splice(i, 0, lines[i]!); return lines.join('\n') }
    case 'swap': {
      const a = e.a % lines.length
      const b = e.b % lines.length;
      [lines[a], lines[b]] = [lines[b]!, lines[a]!]
      return lines.join('\n')
    }
    case 'alias': {
      const i = e.line % lines.length
      lines[i] = lines[i]!.replace(/:\s+(\S.*)$/, e.line % 2 === 0 ? `: *${e.name}` : `: &${e.name} $1`)
      return lines.join('\n')
    }
  }
}

const mangled = fc.tuple(fc.constantFrom(...BASES), fc.array(edit, { minLength: 1, maxLength: 6 }))
  .map(([base, edits]) => edits.reduce(applyEdit, base))

t.test('a mangled policy file is loaded or rejected with file, line and reason; it never throws', async t => {
  let rejectedCount = 0
  fc.assert(fc.property(mangled, text => {
    // Neither parsing nor compiling may throw: the loader's last-resort catch is for bugs, not for input.
    const load = parsePolicy(text, '/etc/dualread/policy.yaml')
    if (load.ok) return compilePolicy(load.policy, load.hash).hash === load.hash
    rejectedCount++
    if (load.errors.length === 0) return false
    return load.errors.every(p => p.file === '/etc/dualread/policy.yaml' && Number.isInteger(p.line) && p.line >= 1 &&
      typeof p.message === 'string' && p.message.length > 0 && typeof p.fix === 'string' && p.fix.length > 0 && p.severity === 'error')
  }), { seed: SEED, numRuns: RUNS })
  t.ok(rejectedCount > RUNS / 2, `most mangled files are rejected (${rejectedCount} of ${RUNS})`)
})

t.test('the edit from the report, an alias to a missing anchor, is a rejection at its line', async t => {
  const text = BASES[2]!.replace(/^authority: old$/m, 'authority: *old')
  const load = loadPolicyText(text, 'policy.yaml')
  t.match(load, { ok: false, errors: [{ line: 6, key: '(yaml)', message: /alias \*old refers to no anchor/ }] })
})

t.test('whatever compiling throws becomes a rejection with the reason', async t => {
  const load = loadPolicyText(BASES[1]!, 'policy.yaml', () => { throw new Error('router exploded') })
  t.match(load, { ok: false, errors: [{ file: 'policy.yaml', line: 1, key: '(policy)', message: 'cannot load this policy: router exploded' }] })
  if (!load.ok) t.equal(load.hash.length, 16, 'the rejection still names the file version by hash')
})
