// What `policy check` says about upstreams.<side>.headers, seen through parsePolicy and the CLI.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { checkCredentials } from '../../src/credentials/check.ts'
import { parsePolicy } from '../../src/policy/parse.ts'
import { runCli } from '../helpers/cli.ts'
import { policyWith } from '../policy/fixtures.ts'
import { scratchDir } from '../helpers/scratch-dir.ts'

function text(headers: string, extra = ''): string {
  return `version: 1
upstreams:
  old:
    url: http://127.0.0.1:8081
    headers:
${headers}
  new: { url: http://127.0.0.1:8082 }
authority: old
rules:
  - name: default
    primary: old
${extra}`
}

t.test('a literal credential is allowed, with a warning that says how to keep it out of the file', async t => {
  const result = parsePolicy(text('      authorization: Bearer literal-s3cret-1\n      x-scope-orgid: tenant-1'), 'policy.yaml')
  t.ok(result.ok, 'accepted')
  t.match(result.warnings, [{ key: 'upstreams.old.headers.authorization', line: 6, severity: 'warning', message: /a credential written in the policy/, fix: /use \{ env: NAME \} or \{ file: PATH \}/ }])
  t.equal(result.warnings.length, 1, 'a header that does not look like a credential is no warning')
  t.notMatch(JSON.stringify(result.warnings), /literal-s3cret-1/, 'the warning does not repeat the value')
})

t.test('a variable not set, or a file not readable, where the check runs is a warning naming it and the chart value to use', async t => {
  const dir = scratchDir(t)
  const result = parsePolicy(text(`      authorization: { env: DUALREAD_TEST_UNSET_TOKEN }\n      x-api-key: { file: ${dir}/absent }`), 'policy.yaml')
  t.ok(result.ok)
  t.match(result.warnings, [
    { key: 'upstreams.old.headers.authorization', message: 'the environment variable DUALREAD_TEST_UNSET_TOKEN is not set here: calls to old that need it fail until it is', fix: /credentials\.env/ },
    { key: 'upstreams.old.headers.x-api-key', message: `cannot read ${dir}/absent here (ENOENT): calls to old that need it fail until it can be read`, fix: /credentials\.files/ },
  ])
})

t.test('a set variable and a readable file are no problem', async t => {
  const dir = scratchDir(t, { token: 'x' })
  const policy = policyWith({ upstreams: { old: { url: 'http://a', headers: { authorization: { env: 'SET' }, 'x-key': { file: join(dir, 'token') } } }, new: { url: 'http://b' } } })
  t.same(checkCredentials(policy, { env: { SET: 'value' }, unreadable: () => undefined }), [])
  t.same(checkCredentials(policy).map(p => p.message), ['the environment variable SET is not set here: calls to old that need it fail until it is'], 'the real environment and file system by default')
})

t.test('headers dualread sets per request, and a name given twice, are errors', async t => {
  const result = parsePolicy(text('      Host: example\n      content-length: "5"\n      Authorization: { env: A }\n      authorization: { env: B }\n      connection: close'), 'policy.yaml')
  t.notOk(result.ok)
  if (result.ok) return
  t.same(result.errors.map(e => e.key), ['upstreams.old.headers.Host', 'upstreams.old.headers.content-length', 'upstreams.old.headers.authorization', 'upstreams.old.headers.connection'])
  t.match(result.errors, [
    { message: '"host" is set by dualread for each request and cannot be configured' },
    {},
    { message: 'header "authorization" is given twice (also as "Authorization"; header names ignore case)' },
    { message: '"connection" is set by dualread for each request and cannot be configured' },
  ])
})

t.test('a source of the wrong form says which forms there are', async t => {
  const result = parsePolicy(text('      authorization: { vault: secret/x }'), 'policy.yaml')
  t.match(result, { ok: false, errors: [{ key: 'upstreams.old.headers.authorization', message: 'expected a value, { env: NAME } or { file: PATH } (each may add prefix: "Bearer ")' }] })
  const badName = parsePolicy(text('      "bad name": x'), 'policy.yaml')
  t.match(badName, { ok: false, errors: [{ key: "upstreams.old.headers.bad name", message: "the key \"bad name\" is not valid: expected a header name such as authorization or x-api-key", fix: "use a header name such as authorization or x-api-key" }] })
})

t.test('policy check lists where each side\'s credentials come from, never a value, and warns about a literal', async t => {
  const dir = scratchDir(t)
  const file = join(dir, 'policy.yaml')
  writeFileSync(file, text('      authorization: { env: DUALREAD_TEST_UNSET_TOKEN, prefix: "Bearer " }\n      x-auth-token: literal-s3cret-2', 'shadow: { credentials: upstream }\n'))
  const run = await runCli('policy', 'check', file)
  t.equal(run.code, 0, 'warnings do not reject the policy')
  t.match(run.out, `${file}:6:7 warning upstreams.old.headers.authorization: the environment variable DUALREAD_TEST_UNSET_TOKEN is not set here`)
  t.match(run.out, `${file}:7:7 warning upstreams.old.headers.x-auth-token: a credential written in the policy`)
  t.match(run.out, 'credentials (sent by the sync and by shadow reads):\n  old: authorization from env DUALREAD_TEST_UNSET_TOKEN, after "Bearer", x-auth-token from the policy (literal)\n  new: none\n')
  t.notMatch(run.out, /literal-s3cret-2/)
})
