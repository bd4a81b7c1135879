import t from 'tap'
import { holdsKnownSecret, knownSecrets, looksLikeCredential, maskCredentials, pathOnly, rememberSecret } from '../../src/telemetry/secrets.ts'

t.test('credentials in an authentication scheme are recognised, in any case and anywhere in a string', async t => {
  for (const text of ['Bearer eyJhbGciOi.x.y', 'basic dXNlcjpwYXNz', 'Token abc', 'ApiKey k1', 'Api-Key k1', 'api_key k1', 'curl -H "Authorization: Bearer abc"', 'AWS4-HMAC-SHA256 Credential=AKIA/2024,']) {
    t.ok(looksLikeCredential(text), text)
  }
  for (const text of ['Bearer', 'bearer ', 'no credential here', 'tokens are counted', 'x-bearer-token', '']) t.notOk(looksLikeCredential(text), text)
  t.ok(looksLikeCredential('Bearer a') && looksLikeCredential('Bearer a'), 'the same answer when asked twice (no state left in the pattern)')
})

t.test('masking keeps the scheme and the rest of the text', async t => {
  t.equal(maskCredentials('a Bearer x.y and Basic dXM= then https://u:p@h/x'), 'a Bearer [redacted] and Basic [redacted] then https://[redacted]@h/x')
  t.equal(maskCredentials('{"msg":"plain","n":1}'), '{"msg":"plain","n":1}')
})

t.test('a request target loses its query string, never its path', async t => {
  t.equal(pathOnly('/a/b?access_token=x'), '/a/b')
  t.equal(pathOnly('/a/b'), '/a/b')
  t.equal(pathOnly('/?'), '/')
})

t.test('the credentials remembered are listed once each for the comparison workers; short values are not remembered', async t => {
  const before = knownSecrets().length
  rememberSecret('Bearer worker-token-123')
  rememberSecret('Bearer worker-token-123')
  rememberSecret('short')
  t.same(knownSecrets().slice(before), ['Bearer worker-token-123'])
  t.ok(holdsKnownSecret('echoed worker-token-123 back'), 'the credential after the scheme is known too')
  t.notOk(holdsKnownSecret('short'))
})
