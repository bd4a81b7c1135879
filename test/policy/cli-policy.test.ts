// `dualread policy check` and `dualread policy explain`, as an operator runs them.
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import t from 'tap'
import { buildProgram } from '../../src/cli/main.ts'
import { hashPolicyText } from '../../src/policy/parse.ts'
import { MINIMAL_FILE, REFERENCE_FILE } from './fixtures.ts'
import { scratchDir } from '../helpers/scratch-dir.ts'

const BIN = fileURLToPath(new URL('../../bin/dualread.js', import.meta.url))

const TYPO_POLICY = `version: 1
upstreams:
  old: { url: http://127.0.0.1:8081 }
  new: { url: http://127.0.0.1:8082 }
authority: old
rules:
  - name: default
    primary: old
    shadowPrecent: 1
`

const WARNING_POLICY = `version: 1
upstreams:
  old: { url: http://127.0.0.1:8081 }
  new: { url: http://127.0.0.1:8082 }
authority: old
rules:
  - name: all-new
    primary: new
    newPercent: 10
`

interface Run { out: string, err: string, exitCode: number }

/** Runs `dualread ...args` in-process and returns what it printed and the exit code it set. */
async function dualread(...args: string[]): Promise<Run> {
  let out = ''
  let err = ''
  let exitCode = 0
  const program = buildProgram({ out: s => { out += s }, err: s => { err += s } })
  process.exitCode = 0
  try {
    await program.parseAsync(['node', 'dualread', ...args])
  } finally {
    // The CLI reports failure through process.exitCode; keep it from failing this test process.
    exitCode = Number(process.exitCode ?? 0)
    process.exitCode = 0
  }
  return { out, err, exitCode }
}

t.test('policy check accepts the reference policy and summarises it', async t => {
  const run = await dualread('policy', 'check', REFERENCE_FILE)
  const hash = hashPolicyText(readFileSync(REFERENCE_FILE, 'utf8'))
  const [summary, ...rest] = run.out.split('\n')
  t.equal(summary, `${REFERENCE_FILE}: ok (hash ${hash}; 5 resource type(s), 3 rule(s), authority old)`)
  t.same(rest.slice(0, 5), [
    'resources:',
    '  alert-rule: collection + item',
    '    list:   /api/v1/tenants/:tenant/alert-rules (items at /items, next page at /nextCursor), compared as a set of items matched by /id',
    '    object: /api/v1/tenants/:tenant/alert-rules/:id, compared whole',
    '    sync:   PUT item, DELETE item',
  ], 'each resource\'s shape: what its paths answer, how they are compared, how the sync writes')
  t.same(rest.slice(-4), ['credentials (sent by the sync; shadow reads carry the client\'s own):', '  old: none', '  new: none', ''])
  t.equal(run.err, '')
  t.equal(run.exitCode, 0)
})

t.test('policy check of the minimal policy says ok', async t => {
  const run = await dualread('policy', 'check', MINIMAL_FILE)
  t.match(run.out, /: ok \(hash [0-9a-f]{16}; 1 resource type\(s\), 1 rule\(s\), authority old\)\nresources:\n  alert-rule: collection \+ item\n/)
  t.equal(run.exitCode, 0)
})

t.test('policy check names the file, line and key of a typo and exits 1', async t => {
  const file = join(scratchDir(t, { 'policy.yaml': TYPO_POLICY }), 'policy.yaml')
  const run = await dualread('policy', 'check', file)
  t.equal(run.exitCode, 1)
  t.equal(run.out, '')
  t.equal(run.err, [
    `${file}:9:5 error rules[0].shadowPrecent: unknown key "shadowPrecent"`,
    '    fix: did you mean "shadowPercent"? otherwise remove it',
    `${file}: 1 error(s); the policy would be rejected`,
    '',
  ].join('\n'))
})

t.test('policy check prints warnings but still accepts the policy', async t => {
  const file = join(scratchDir(t, { 'policy.yaml': WARNING_POLICY }), 'policy.yaml')
  const run = await dualread('policy', 'check', file)
  t.equal(run.exitCode, 0)
  t.equal(run.err, `${file}:9:5 warning rules[0].newPercent: newPercent has no effect when primary is already new\n    fix: remove newPercent from this rule\n`)
  t.match(run.out, `${file}: ok (hash `)
  t.match(run.out, '1 rule(s), authority old)')
})

t.test('policy check of a file that does not exist says so and exits 1', async t => {
  const file = join(scratchDir(t), 'missing.yaml')
  const run = await dualread('policy', 'check', file)
  t.equal(run.exitCode, 1)
  t.match(run.err, `${file}:0:0 error (file): ENOENT`)
  t.match(run.err, 'fix: check the path')
  t.match(run.err, `${file}: 1 error(s); the policy would be rejected`)
})

t.test('policy explain shows the routing decision for a request', async t => {
  const run = await dualread('policy', 'explain', REFERENCE_FILE, '--path', '/api/v1/tenants/acme/alert-rules', '-H', 'X-Region: eu-west-1')
  t.equal(run.exitCode, 0)
  t.equal(run.err, '')
  t.equal(run.out, [
    'request:   GET /api/v1/tenants/acme/alert-rules',
    'resource:  alert-rule (collection /api/v1/tenants/:tenant/alert-rules)',
    'shape:     collection + item: the list (items at /items), compared as a set of items matched by /id',
    'tenant:    acme',
    'region:    eu-west-1',
    'rule:      "acme-on-new" (match {"tenants":["acme"],"resourceTypes":["alert-rule"]})',
    'served by: new; reason: rule (primary)',
    'shadow:    100% of these reads are also sent to old and compared',
    'fallback:  on error, timeout, 5xx or open breaker, old serves',
    'overrides: a rollback of "acme-on-new" or a recent write through the proxy would send it to old instead',
    '',
  ].join('\n'))
})

t.test('policy explain takes the method and repeated headers', async t => {
  const run = await dualread('policy', 'explain', REFERENCE_FILE, '--method', 'post', '--path', '/api/v1/tenants/acme/teams',
    '-H', 'x-region: eu-west-1', '--header', 'x-tenant-id:globex')
  t.equal(run.exitCode, 0)
  t.match(run.out, 'request:   POST /api/v1/tenants/acme/teams\n')
  t.match(run.out, 'tenant:    acme\n', 'the path parameter wins over the header')
  t.match(run.out, 'region:    eu-west-1\n')
  t.match(run.out, 'served by: old (the authority); reason: write\n')
})

t.test('policy explain rejects a header without a name', async t => {
  let err = ''
  const program = buildProgram({ out: () => undefined, err: s => { err += s } })
  await t.rejects(program.parseAsync(['node', 'dualread', 'policy', 'explain', REFERENCE_FILE, '--path', '/x', '-H', 'no-colon']), { code: 'commander.invalidArgument' })
  t.match(err, 'expected "name: value"')
  await t.rejects(program.parseAsync(['node', 'dualread', 'policy', 'explain', REFERENCE_FILE, '--path', '/x', '-H', ': value']), { code: 'commander.invalidArgument' })
})

t.test('policy explain requires --path', async t => {
  let err = ''
  const program = buildProgram({ out: () => undefined, err: s => { err += s } })
  await t.rejects(program.parseAsync(['node', 'dualread', 'policy', 'explain', REFERENCE_FILE]), { code: 'commander.missingMandatoryOptionValue' })
  t.match(err, '--path <path>')
})

t.test('policy explain refuses an invalid policy with its problems', async t => {
  const file = join(scratchDir(t, { 'policy.yaml': TYPO_POLICY }), 'policy.yaml')
  const run = await dualread('policy', 'explain', file, '--path', '/api/v1/tenants/acme/alert-rules')
  t.equal(run.exitCode, 1)
  t.equal(run.out, '')
  t.equal(run.err, `${file}:9:5 error rules[0].shadowPrecent: unknown key "shadowPrecent"\n    fix: did you mean "shadowPercent"? otherwise remove it\n`)
})

t.test('the installed dualread binary exits 1 on an invalid policy and names file:line', async t => {
  const file = join(scratchDir(t, { 'policy.yaml': TYPO_POLICY }), 'policy.yaml')
  const failure = await promisify(execFile)(process.execPath, [BIN, 'policy', 'check', file]).then(
    () => undefined,
    (e: { code?: number, stdout: string, stderr: string }) => e,
  )
  if (!failure) throw new Error('dualread policy check succeeded on an invalid policy')
  t.equal(failure.code, 1)
  t.equal(failure.stdout, '')
  t.match(failure.stderr, `${file}:9:5 error rules[0].shadowPrecent`)
  t.match(failure.stderr, '1 error(s); the policy would be rejected')
})

t.test('the installed dualread binary exits 0 on a valid policy', async t => {
  const { stdout } = await promisify(execFile)(process.execPath, [BIN, 'policy', 'check', MINIMAL_FILE])
  t.match(stdout, `${MINIMAL_FILE}: ok (hash `)
})

t.test('the installed dualread binary exits 1 with usage help when explain lacks --path', async t => {
  const failure = await promisify(execFile)(process.execPath, [BIN, 'policy', 'explain', MINIMAL_FILE]).then(
    () => undefined,
    (e: { code?: number, stderr: string }) => e,
  )
  if (!failure) throw new Error('dualread policy explain succeeded without --path')
  t.equal(failure.code, 1)
  t.match(failure.stderr, "required option '--path <path>' not specified")
})
