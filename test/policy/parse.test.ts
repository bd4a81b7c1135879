import { readFileSync } from 'node:fs'
import t from 'tap'
import { hashPolicyText, parsePolicy } from '../../src/policy/parse.ts'
import { formatKey, formatProblem, type PolicyProblem } from '../../src/policy/problems.ts'
import { MINIMAL_FILE, REFERENCE_FILE } from './fixtures.ts'

/** The errors of a policy that must be rejected. */
function rejected(text: string, file = 'policy.yaml'): PolicyProblem[] {
  const result = parsePolicy(text, file)
  if (result.ok) throw new Error('expected the policy to be rejected')
  return result.errors
}

/** Line, column and key of each problem (the part an operator jumps to), in file order. */
function where(problems: PolicyProblem[]): string[] {
  return [...problems].sort((a, b) => a.line - b.line || a.column - b.column).map(p => `${p.line}:${p.column} ${p.key}`)
}

function problemAt(problems: PolicyProblem[], key: string): PolicyProblem | undefined {
  return problems.find(p => p.key === key)
}

t.test('the reference policy is valid and keeps every key it sets', async t => {
  const result = parsePolicy(readFileSync(REFERENCE_FILE, 'utf8'), REFERENCE_FILE)
  if (!result.ok) throw new Error(`expected a valid policy: ${JSON.stringify(result.errors)}`)
  t.same(result.warnings, [])
  const p = result.policy
  t.equal(p.migration, 'alerting')
  t.same(p.resources.map(r => r.type), ['alert-rule', 'contact-point', 'escalation-policy', 'route', 'team'])
  t.same(p.rules.map(r => r.name), ['acme-on-new', 'eu-canary', 'default'])
  t.same(p.rules[0]!.match, { tenants: ['acme'], resourceTypes: ['alert-rule'] })
  t.equal(p.rules[1]!.newPercent, 10)
  t.same(p.resources[0]!.compare.unordered, { '/labels': null, '/receivers': '/name' })
  t.same(p.resources[0]!.compare.normalize, { '/for': 'duration' })
  t.same(p.resources[1]!.compare.redact, ['/config/token'])
  t.same(p.sync.tenants, { list: '/api/v1/tenants', items: '/items', id: '/id', next: '/nextCursor', cursorParam: 'cursor' })
})

t.test('a minimal policy gets the documented defaults', async t => {
  const result = parsePolicy(readFileSync(MINIMAL_FILE, 'utf8'), MINIMAL_FILE)
  if (!result.ok) throw new Error(`expected a valid policy: ${JSON.stringify(result.errors)}`)
  const p = result.policy
  t.equal(p.migration, 'default')
  t.equal(p.listen, '0.0.0.0:8080')
  t.equal(p.admin, '127.0.0.1:9090')
  t.same(p.upstreams.old, { url: 'http://127.0.0.1:8081', timeoutMs: 2000, connections: { reads: 64, writes: 256, sync: 16 }, queueTimeoutMs: 250, headers: {} })
  t.same(p.breaker, { errorThresholdPercentage: 50, volumeThreshold: 10, resetTimeoutMs: 10_000, rollingWindowMs: 10_000 })
  t.same(p.identity, { tenant: { pathParam: 'tenant', header: 'x-tenant-id' }, region: { header: 'x-region', default: 'us-east-1' } })
  t.same(p.resources[0]!.list, { items: '/items', next: '/nextCursor', cursorParam: 'cursor', limitParam: 'limit' })
  t.equal(p.resources[0]!.id, '/id')
  t.equal(p.resources[0]!.version, undefined)
  t.same(p.resources[0]!.compare, { ignore: [], unordered: {}, normalize: {}, critical: [], redact: [] })
  t.same(p.rules[0], { name: 'default', match: {}, primary: 'old', newPercent: 0, shadowPercent: 1, fallback: true })
  t.same(p.gates.rollbackOnCriticalDrift, { enabled: true, threshold: 1, windowSec: 300, minSamples: 20 })
  t.same(p.readYourWrites, { windowMs: 5000 })
  t.same(p.shadow, { maxInFlight: 64, maxBodyBytes: 1_048_576, timeoutMs: 2000, recheckLagMs: 1000, workers: 1, inlineCompareBytes: 4096, credentials: 'client' })
  t.same(p.sync, { enabled: true, state: 'file:.dualread/state', direction: 'auto', batchSize: 200, concurrency: 4, maxWritesPerSecond: 200, fullScanIntervalSec: 600, leaseTtlMs: 10_000 })
})

t.test('identity header names are matched case-insensitively (stored lower-case)', async t => {
  const result = parsePolicy(`version: 1
upstreams:
  old: { url: http://127.0.0.1:8081 }
  new: { url: https://new.example:8443/base }
authority: new
identity:
  tenant: { header: X-Org-ID }
  region: { header: X-Zone, default: eu-west-1 }
rules:
  - name: default
    primary: new
`, 'p.yaml')
  if (!result.ok) throw new Error(`expected a valid policy: ${JSON.stringify(result.errors)}`)
  t.same(result.policy.identity, { tenant: { pathParam: 'tenant', header: 'x-org-id' }, region: { header: 'x-zone', default: 'eu-west-1' } })
})

t.test('a typo in a key names the line and suggests the right key', async t => {
  const errors = rejected(`version: 1
upstreams:
  old: { url: http://127.0.0.1:8081 }
  new: { url: http://127.0.0.1:8082 }
authority: old
rules:
  - name: default
    primary: old
    shadowPrecent: 1
`, 'policies/prod.yaml')
  t.equal(errors.length, 1)
  t.match(errors[0], {
    file: 'policies/prod.yaml', line: 9, column: 5, key: 'rules[0].shadowPrecent', severity: 'error',
    message: 'unknown key "shadowPrecent"', fix: 'did you mean "shadowPercent"? otherwise remove it',
  })
})

t.test('a misspelt required key is reported both as unknown and as missing', async t => {
  const errors = rejected(`version: 1
upstreams:
  old: { url: http://127.0.0.1:8081 }
  new: { url: http://127.0.0.1:8082 }
autority: old
rules:
  - name: default
    primary: old
`)
  const unknown = errors.find(e => e.key === 'autority')
  const missing = errors.find(e => e.key === 'authority')
  t.match(unknown, { line: 5, column: 1, message: 'unknown key "autority"', fix: /did you mean "authority"\?/ })
  // A missing key has no line of its own: it points at the map it belongs in (here the top level).
  t.match(missing, { line: 1, column: 1, message: 'required key is missing (expected one of: old, new)', fix: 'add authority as one of: old, new' })
  t.equal(errors.length, 2)
})

t.test('an unknown key that resembles nothing is to be removed', async t => {
  const errors = rejected(`version: 1
upstreams:
  old: { url: http://127.0.0.1:8081 }
  new: { url: http://127.0.0.1:8082 }
authority: old
rules:
  - name: default
    primary: old
monitoring: { enabled: true }
`)
  t.same(where(errors), ['9:1 monitoring'])
  t.equal(errors[0]!.fix, 'remove it; see the policy reference in README.md')
})

t.test('a missing nested key points at the map it belongs in', async t => {
  const errors = rejected(`version: 1
upstreams:
  old: { timeoutMs: 500 }
  new: { url: http://127.0.0.1:8082 }
authority: old
rules:
  - name: default
    primary: old
`)
  t.same(where(errors), ['3:3 upstreams.old.url'])
  t.equal(errors[0]!.message, 'required key is missing (expected string)')
  t.equal(errors[0]!.fix, 'add upstreams.old.url as string')
})

t.test('a value of the wrong type says what was expected and what was found', async t => {
  const errors = rejected(`version: 1
upstreams:
  old: { url: http://127.0.0.1:8081 }
  new: { url: http://127.0.0.1:8082 }
authority: old
breaker:
readYourWrites: { windowMs: 1.5 }
rules: default
sync: { enabled: "yes" }
`)
  t.same(where(errors), ['6:1 breaker', '7:19 readYourWrites.windowMs', '8:1 rules', '9:9 sync.enabled'])
  t.match(problemAt(errors, 'sync.enabled'), { message: 'expected boolean, got "yes"', fix: 'set it to a boolean' })
  t.match(problemAt(errors, 'breaker'), { message: 'expected object, got null', fix: 'set it to an object' })
  t.match(problemAt(errors, 'readYourWrites.windowMs'), { message: 'expected int, got 1.5', fix: 'set it to an int' })
  t.match(problemAt(errors, 'rules'), { message: 'expected array, got "default"', fix: 'set it to a list' })
})

t.test('a value outside a fixed set lists the allowed values', async t => {
  const errors = rejected(`version: 1
upstreams:
  old: { url: http://127.0.0.1:8081 }
  new: { url: http://127.0.0.1:8082 }
authority: legacy
rules:
  - name: default
    primary: old
    fallback: true
`)
  t.same(where(errors), ['5:1 authority'])
  t.match(errors[0], { message: '"legacy" is not allowed', fix: 'use one of: old, new' })
})

t.test('only version 1 exists, and it must be given', async t => {
  const body = `upstreams:
  old: { url: http://127.0.0.1:8081 }
  new: { url: http://127.0.0.1:8082 }
authority: old
rules:
  - name: default
    primary: old
`
  t.match(rejected(`version: 2\n${body}`), [{ line: 1, key: 'version', message: '2 is not allowed', fix: 'use one of: 1' }])
  t.match(rejected(body), [{ line: 1, key: 'version', message: 'required key is missing (expected one of: 1)', fix: 'add version as one of: 1' }])
})

t.test('a percentage outside 0..100 is rejected with the bound to use', async t => {
  const errors = rejected(`version: 1
upstreams:
  old: { url: http://127.0.0.1:8081 }
  new: { url: http://127.0.0.1:8082 }
authority: old
rules:
  - name: default
    primary: old
    shadowPercent: -5
    newPercent: 150
`)
  t.same(where(errors), ['9:5 rules[0].shadowPercent', '10:5 rules[0].newPercent'])
  t.match(problemAt(errors, 'rules[0].shadowPercent'), { message: '-5 is too small: a percentage is between 0 and 100', fix: 'use a value of at least 0' })
  t.match(problemAt(errors, 'rules[0].newPercent'), { message: '150 is too large: a percentage is between 0 and 100', fix: 'use a value of at most 100' })
})

t.test('a count that must be positive rejects zero and says "greater than 0"', async t => {
  const errors = rejected(`version: 1
upstreams:
  old: { url: http://127.0.0.1:8081 }
  new: { url: http://127.0.0.1:8082 }
authority: old
rules:
  - name: default
    primary: old
shadow: { maxInFlight: 0 }
`)
  t.same(where(errors), ['9:11 shadow.maxInFlight'])
  t.equal(errors[0]!.fix, 'use a value greater than 0')
})

t.test('each upstream has a connection budget per role; a bare number is the reads budget, as before roles', async t => {
  const parsed = (keys: string) => {
    const r = parsePolicy(`version: 1
upstreams:
  old: { url: http://127.0.0.1:8081, ${keys} }
  new: { url: http://127.0.0.1:8082 }
authority: old
rules:
  - name: default
    primary: old
`, 'policy.yaml')
    if (!r.ok) throw new Error(JSON.stringify(r.errors))
    return r.policy.upstreams
  }
  t.same(parsed('connections: 8').old.connections, { reads: 8, writes: 256, sync: 16 })
  t.same(parsed('connections: { writes: 4, sync: 2 }, queueTimeoutMs: 0').old, { url: 'http://127.0.0.1:8081', timeoutMs: 2000, connections: { reads: 64, writes: 4, sync: 2 }, queueTimeoutMs: 0, headers: {} })
  t.same(parsed('timeoutMs: 500').new.connections, { reads: 64, writes: 256, sync: 16 }, 'the other side keeps the defaults')
  const errors = rejected(`version: 1
upstreams:
  old: { url: http://127.0.0.1:8081, connections: { read: 4, sync: 0 } }
  new: { url: http://127.0.0.1:8082, queueTimeoutMs: -1 }
authority: old
rules:
  - name: default
    primary: old
`)
  t.same(where(errors), ['3:53 upstreams.old.connections.read', '3:62 upstreams.old.connections.sync', '4:38 upstreams.new.queueTimeoutMs'])
  t.match(problemAt(errors, 'upstreams.old.connections.read'), { fix: 'did you mean "reads"? otherwise remove it' })
  t.match(problemAt(errors, 'upstreams.new.queueTimeoutMs'), { fix: 'use a value of at least 0' })
})

t.test('a policy without rules is told to add a catch-all rule', async t => {
  const errors = rejected(`version: 1
upstreams:
  old: { url: http://127.0.0.1:8081 }
  new: { url: http://127.0.0.1:8082 }
authority: old
rules: []
`)
  t.same(where(errors), ['6:1 rules'])
  t.match(errors[0], { message: '[] is too small: add at least one rule; the last one should match everything', fix: 'use a value of at least 1' })
})

t.test('a malformed string value shows the expected format as the fix', async t => {
  const errors = rejected(`version: 1
listen: localhost
upstreams:
  old: { url: http://127.0.0.1:8081 }
  new: { url: ftp://127.0.0.1:8082 }
authority: old
resources:
  - type: AlertRule
    collection: api/v1/alert-rules
    item: /api/v1/alert-rules/:id
    id: id
rules:
  - name: default
    primary: old
`)
  t.same(where(errors), [
    '2:1 listen', '5:10 upstreams.new.url', '8:5 resources[0].type', '9:5 resources[0].collection', '11:5 resources[0].id',
  ])
  t.match(problemAt(errors, 'listen'), { message: 'expected HOST:PORT, for example 127.0.0.1:8080', fix: 'use HOST:PORT, for example 127.0.0.1:8080' })
  t.match(problemAt(errors, 'upstreams.new.url'), { fix: 'use an http:// or https:// URL' })
  t.match(problemAt(errors, 'resources[0].type'), { fix: 'use a lower-case name such as alert-rule' })
  t.match(problemAt(errors, 'resources[0].collection'), { fix: 'use a path pattern such as /api/v1/tenants/:tenant/alert-rules' })
  t.match(problemAt(errors, 'resources[0].id'), { fix: /^use a JSON Pointer such as \/routing\/receiver \(start with "\/"/ })
})

t.test('a format error without a hint points at the policy reference', async t => {
  const errors = rejected(`version: 1
migration: alerting v2
upstreams:
  old: { url: http://127.0.0.1:8081 }
  new: { url: http://127.0.0.1:8082 }
authority: old
rules:
  - name: default
    primary: old
`)
  t.same(where(errors), ['2:1 migration'])
  t.match(errors[0], { message: /must match pattern/, fix: 'see the policy reference in README.md' })
})

t.test('a long offending value is shortened in the message', async t => {
  const errors = rejected(`version: 1
upstreams:
  old: { url: http://127.0.0.1:8081 }
  new: { url: http://127.0.0.1:8082 }
authority: old
rules:
  - name: default
    primary: ${'o'.repeat(100)}
`)
  const message = errors[0]!.message
  t.equal(message, `"${'o'.repeat(56)}... is not allowed`)
})

t.test('a YAML syntax error names its line and says what to look for', async t => {
  const errors = rejected(`version: 1
upstreams:
  old: { url: http://127.0.0.1:8081 }
  new: { url: http://127.0.0.1:8082
authority: old
`)
  t.ok(errors.length >= 1)
  t.match(errors[0], {
    key: '(yaml)', line: 5, severity: 'error',
    fix: 'fix the YAML syntax at this position (indentation, a missing ":" or an unclosed quote or bracket)',
  })
  t.notMatch(errors[0]!.message, /\n/, 'the message is one line')
})

t.test('a key given twice is a YAML error on the second occurrence', async t => {
  const errors = rejected(`version: 1
upstreams:
  old: { url: http://127.0.0.1:8081 }
  new: { url: http://127.0.0.1:8082 }
authority: old
rules:
  - name: default
    primary: old
authority: new
`)
  t.same(where(errors), ['9:1 (yaml)'])
  t.equal(errors[0]!.message, 'Map keys must be unique')
})

t.test('an empty or non-map file is rejected at the top level', async t => {
  t.match(rejected(''), [{ line: 1, column: 1, key: '(top level)', message: 'expected object, got null', fix: 'set it to an object' }])
  t.match(rejected('- version: 1\n'), [{ key: '(top level)', message: 'expected object, got [{"version":1}]' }])
})

t.test('a rejected policy still reports its hash, warnings separate from errors', async t => {
  const text = `version: 1
upstreams:
  old: { url: http://127.0.0.1:8081 }
  new: { url: http://127.0.0.1:8082 }
authority: old
rules:
  - name: new-first
    match: { tenants: [acme] }
    primary: new
    newPercent: 5
  - name: new-first
    primary: old
`
  const result = parsePolicy(text, 'p.yaml')
  t.equal(result.ok, false)
  t.equal(result.hash, hashPolicyText(text))
  if (result.ok) return
  t.same(where(result.errors), ['11:5 rules[1].name'])
  t.same(where(result.warnings), ['10:5 rules[0].newPercent'])
})

t.test('the hash identifies the exact file text', async t => {
  const text = readFileSync(MINIMAL_FILE, 'utf8')
  t.match(hashPolicyText(text), /^[0-9a-f]{16}$/)
  t.equal(hashPolicyText(text), hashPolicyText(String(text)))
  t.not(hashPolicyText(text), hashPolicyText(`${text}\n`), 'even a trailing newline changes it')
  const result = parsePolicy(text, MINIMAL_FILE)
  t.equal(result.hash, hashPolicyText(text))
})

t.test('a problem prints as file:line:col, key, message and fix', async t => {
  const [problem] = rejected(`version: 1
upstreams:
  old: { url: http://127.0.0.1:8081 }
  new: { url: http://127.0.0.1:8082 }
authority: old
rules:
  - name: default
    primary: old
    shadowPrecent: 1
`, 'policies/prod.yaml')
  t.equal(formatProblem(problem!), 'policies/prod.yaml:9:5 error rules[0].shadowPrecent: unknown key "shadowPrecent"\n    fix: did you mean "shadowPercent"? otherwise remove it')
})

t.test('key paths render as dotted keys with list indexes', async t => {
  t.equal(formatKey(['upstreams', 'old', 'url']), 'upstreams.old.url')
  t.equal(formatKey(['rules', 2, 'match', 'tenants', 0]), 'rules[2].match.tenants[0]')
  t.equal(formatKey([]), '(top level)')
})
