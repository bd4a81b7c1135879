// YAML anchors, aliases and merge keys that cannot be expanded are a rejected policy with a line
// and a reason, never an exception: a bad ConfigMap edit must not take the process down.
import t from 'tap'
import { parsePolicy } from '../../src/policy/parse.ts'
import type { PolicyProblem } from '../../src/policy/problems.ts'

const VALID = `version: 1
upstreams:
  old: { url: http://127.0.0.1:8081 }
  new: { url: http://127.0.0.1:8082 }
authority: old
rules:
  - name: default
    primary: old
`

function rejected(text: string): PolicyProblem[] {
  const result = parsePolicy(text, 'policy.yaml')
  if (result.ok) throw new Error('expected the policy to be rejected')
  return result.errors
}

t.test('an alias to an anchor that does not exist is rejected at the alias', async t => {
  const errors = rejected(VALID.replace('authority: old', 'authority: *old'))
  t.match(errors, [{
    file: 'policy.yaml', line: 5, column: 12, key: '(yaml)', severity: 'error',
    message: 'alias *old refers to no anchor: nothing above it is marked &old',
    fix: 'write the value out (a value starting with "*" is an alias: quote it, e.g. "*old"), or mark the value to repeat with &old above this line',
  }])
})

t.test('an alias used before its anchor is rejected at the alias, saying the anchor comes later', async t => {
  const errors = rejected(`${VALID}gates: *g\nshadow: &g { maxInFlight: 4 }\n`)
  t.match(errors, [{ line: 9, column: 8, key: '(yaml)', message: 'alias *g comes before its anchor &g (line 10)', fix: 'move the value marked &g above its first use' }])
})

t.test('a merge key with an unresolved alias is rejected at the alias', async t => {
  t.match(rejected(`${VALID}shadow:\n  <<: *defaults\n`), [{ line: 10, column: 7, message: /alias \*defaults refers to no anchor/ }])
})

t.test('an anchor expanded too many times is refused as a resource-exhaustion guard, at the anchor', async t => {
  const laughs = [
    'x-a: &a [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]',
    'x-b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]',
    'x-c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]',
  ].join('\n')
  const errors = rejected(`${VALID}${laughs}\n`)
  t.equal(errors.length, 1)
  t.match(errors[0], {
    line: 9, key: '(yaml)',
    message: /^aliases expand to more than 100 copies \(anchor &a is used 10 times\)/,
    fix: 'write the repeated values out, or use fewer aliases',
  })
})

t.test('a few aliases of a defined anchor are fine', async t => {
  const text = VALID.replace('  old: { url: http://127.0.0.1:8081 }', '  old: &up { url: http://127.0.0.1:8081 }')
    .replace('rules:', 'shadow: &s { maxInFlight: 4 }\nrules:')
  const result = parsePolicy(`${text}`, 'policy.yaml')
  t.equal(result.ok, true)
})

t.test('a merge key that merges something other than a map is rejected at the merge key', async t => {
  const errors = rejected(`%YAML 1.1\n---\n${VALID}shadow:\n  <<: 5\nreadYourWrites:\n  <<: 6\n`)
  t.match(errors, [{ line: 12, column: 3, key: '(yaml)', message: 'Merge sources must be maps or map aliases', fix: 'a merge key (<<) takes a map, or an alias of a map' }])
})
