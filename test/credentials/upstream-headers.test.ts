import t from 'tap'
import { CredentialError, UpstreamHeaders } from '../../src/credentials/upstream-headers.ts'
import { maskCredentials } from '../../src/telemetry/secrets.ts'
import { KubeSecretVolume } from '../helpers/kube-secret.ts'
import { scratchDir } from '../helpers/scratch-dir.ts'

t.test('values come from the environment, from files and from the policy, with a prefix where asked', async t => {
  const volume = new KubeSecretVolume(scratchDir(t), { key: 'file-key-0001\n' })
  const headers = new UpstreamHeaders('new', {
    Authorization: { env: 'NEW_API_TOKEN', prefix: 'Bearer ' },
    'x-api-key': { file: volume.path('key') },
    'x-scope-orgid': 'tenant-1',
  }, { env: { NEW_API_TOKEN: 'env-token-0001' } })
  t.same(await headers.values(), { authorization: 'Bearer env-token-0001', 'x-api-key': 'file-key-0001', 'x-scope-orgid': 'tenant-1' }, 'names lower-cased')
  t.ok(headers.configured)
  t.same(headers.names, ['authorization', 'x-api-key', 'x-scope-orgid'])
  t.equal(headers.describe(), `authorization from env NEW_API_TOKEN, after "Bearer", x-api-key from file ${volume.path('key')}, x-scope-orgid from the policy (literal)`)
  t.same(headers.sources(), { authorization: 'env NEW_API_TOKEN, after "Bearer"', 'x-api-key': `file ${volume.path('key')}`, 'x-scope-orgid': 'the policy (literal)' })
  t.equal(new UpstreamHeaders('old', {}).describe(), 'none')
  t.notOk(new UpstreamHeaders('old', {}).configured)
})

t.test('every value sent is masked wherever it shows up in a log line or an error, with and without its scheme', async t => {
  const headers = new UpstreamHeaders('old', { authorization: { env: 'T', prefix: 'Bearer ' }, 'x-auth-token': 'literal-s3cret-9' }, { env: { T: 'sent-s3cret-7' } })
  await headers.values()
  t.equal(maskCredentials('{"msg":"old said: token sent-s3cret-7 not valid; literal-s3cret-9"}'), '{"msg":"old said: token [redacted] not valid; [redacted]"}')
})

t.test('a variable that is not set, an unreadable file, an empty one or a line break is a CredentialError that names the key, never a value', async t => {
  const dir = scratchDir(t)
  const volume = new KubeSecretVolume(dir, { empty: '\n', broken: 'abc\ndef' })
  const cases: Array<[ConstructorParameters<typeof UpstreamHeaders>[1], RegExp]> = [
    [{ authorization: { env: 'MISSING_TOKEN' } }, /^upstreams\.old\.headers\.authorization: the environment variable MISSING_TOKEN is not set$/],
    [{ authorization: { env: 'EMPTY' } }, /the environment variable EMPTY is not set/],
    [{ authorization: { file: `${dir}/absent` } }, new RegExp(`^upstreams\\.old\\.headers\\.authorization: cannot read ${dir}/absent \\(ENOENT\\)$`)],
    [{ authorization: { file: volume.path('empty') } }, /^upstreams\.old\.headers\.authorization: .*empty is empty$/],
    [{ authorization: { file: volume.path('broken') } }, /holds a line break or NUL$/],
  ]
  for (const [config, message] of cases) {
    const error = await new UpstreamHeaders('old', config, { env: { EMPTY: '' } }).values().catch((err: unknown) => err)
    t.type(error, CredentialError)
    t.match(error, { name: 'CredentialError', message }, JSON.stringify(config))
    t.notMatch((error as Error).message, /abc|def/, 'the value is not in the message')
  }
})

t.test('the client\'s own credentials are replaced by the side\'s, its other headers kept', async t => {
  const headers = new UpstreamHeaders('new', { authorization: 'Bearer upstream-token-1', 'x-api-key': 'upstream-key-1' })
  t.same(await headers.replaceCredentials({ authorization: 'Bearer client', cookie: 'session=1', 'proxy-authorization': 'Basic x', 'X-API-KEY': 'ignored-case', 'x-api-key': 'client-key', accept: 'application/json', traceparent: '00-abc' }), {
    'X-API-KEY': 'ignored-case', accept: 'application/json', traceparent: '00-abc', authorization: 'Bearer upstream-token-1', 'x-api-key': 'upstream-key-1',
  })
})

t.test('refresh says whether a rotated file brought a new value', async t => {
  const volume = new KubeSecretVolume(scratchDir(t), { token: 'first-token-1' })
  const headers = new UpstreamHeaders('old', { authorization: { file: volume.path('token'), prefix: 'Bearer ' } }, { now: () => 0 })
  t.same(await headers.values(), { authorization: 'Bearer first-token-1' })
  t.equal(await headers.refresh(), false, 'nothing changed')
  volume.rotate({ token: 'second-token-2' })
  t.same(await headers.values(), { authorization: 'Bearer first-token-1' }, 'the cached value, within the recheck interval')
  t.equal(await headers.refresh(), true, 'a refresh reads the file now')
  t.same(await headers.values(), { authorization: 'Bearer second-token-2' })
  const gone = new UpstreamHeaders('old', { authorization: { env: 'NOPE' } }, { env: {} })
  t.equal(await gone.refresh(), false, 'a source without a value is no new value (values() reports why)')
})
