// Step one of the request path (src/proxy/classify.ts) over a compiled policy (src/policy/compile.ts).
import fc from 'fast-check'
import t from 'tap'
import { compilePolicy } from '../../src/policy/compile.ts'
import { classify, isRead } from '../../src/proxy/classify.ts'
import { policyWith, referencePolicy } from './fixtures.ts'

const compiled = compilePolicy(referencePolicy(), 'abc123')

t.test('a compiled policy keeps the policy and the hash it came from', async t => {
  t.equal(compiled.hash, 'abc123')
  t.equal(compiled.policy.migration, 'alerting')
})

t.test('a collection path and an item path address their resource', async t => {
  const collection = compiled.matchResource('/api/v1/tenants/acme/contact-points')
  t.equal(collection?.resource.type, 'contact-point')
  t.equal(collection?.kind, 'collection')
  t.same(collection?.params, { tenant: 'acme' })
  const item = compiled.matchResource('/api/v1/tenants/acme/contact-points/cp-7')
  t.equal(item?.kind, 'item')
  t.same(item?.params, { tenant: 'acme', id: 'cp-7' })
})

t.test('a trailing slash addresses the same resource; letter case does not', async t => {
  t.equal(compiled.matchResource('/api/v1/tenants/acme/teams/')?.resource.type, 'team')
  t.equal(compiled.matchResource('/API/v1/tenants/acme/teams'), undefined)
})

t.test('a read is classified as read: GET and HEAD', async t => {
  for (const method of ['GET', 'HEAD']) {
    const c = classify(compiled, method, '/api/v1/tenants/acme/alert-rules', {})
    t.equal(c.kind, 'read', method)
  }
})

t.test('a write is classified as write', async t => {
  for (const method of ['POST', 'PUT', 'PATCH', 'DELETE', 'MKCOL', 'COPY', 'MOVE', 'PROPPATCH']) {
    const c = classify(compiled, method, '/api/v1/tenants/acme/alert-rules/r1', {})
    t.equal(c.kind, 'write', method)
    if (c.kind === 'write') t.same(c.slice, { tenant: 'acme', region: 'us-east-1', resourceType: 'alert-rule' })
  }
})

t.test('a method that neither reads nor changes state is passthrough, with the slice it addresses', async t => {
  for (const method of ['OPTIONS', 'PROPFIND', 'TRACE', 'LOCK', 'SEARCH']) {
    t.same(classify(compiled, method, '/api/v1/tenants/acme/alert-rules/r1', {}), {
      kind: 'passthrough',
      slice: { tenant: 'acme', region: 'us-east-1', resourceType: 'alert-rule' },
      match: compiled.matchResource('/api/v1/tenants/acme/alert-rules/r1'),
    }, method)
  }
})

t.test('a GET or HEAD with a method-override hint counts as the method it names', async t => {
  const item = '/api/v1/tenants/acme/alert-rules/r1'
  const kind = (method: string, url: string, headers: Record<string, string | string[]> = {}) => classify(compiled, method, url, headers).kind
  t.equal(kind('GET', item, { 'x-http-method-override': 'DELETE' }), 'write')
  t.equal(kind('HEAD', item, { 'x-http-method': 'patch' }), 'write')
  t.equal(kind('GET', item, { 'x-method-override': ['GET', 'PUT'] }), 'write', 'any hint to a mutating method is enough')
  t.equal(kind('GET', item, { 'x-http-method-override': 'GET, PUT' }), 'write', 'repeated headers arrive comma-joined')
  t.equal(kind('GET', `${item}?_method=PUT`), 'write')
  t.equal(kind('GET', `${item}?limit=1&_method=get&_method=post`), 'write')
  t.equal(kind('GET', item, { 'x-http-method-override': 'OPTIONS' }), 'passthrough')
  t.equal(kind('GET', item, { 'x-http-method-override': 'head' }), 'read')
  t.equal(kind('GET', `${item}?_method=`, { 'x-http-method': ' ' }), 'read', 'empty hints are no hints')
  t.equal(kind('POST', item, { 'x-http-method-override': 'GET' }), 'write', 'a hint never makes a write a read')
  t.equal(kind('GET', '/healthz', { 'x-http-method-override': 'DELETE' }), 'passthrough', 'an unmatched path is passthrough whatever it says')
})

t.test('only GET and HEAD are reads', async t => {
  fc.assert(fc.property(fc.string(), method => isRead(method) === (method === 'GET' || method === 'HEAD')))
  t.equal(isRead('get'), false, 'methods arrive upper-case from node; a lower-case one is not trusted as a read')
})

t.test('an unmatched path is passthrough', async t => {
  for (const path of ['/healthz', '/api/v1/tenants', '/api/v1/tenants/acme', '/api/v1/tenants/acme/alert-rules/r1/history', '/']) {
    t.same(classify(compiled, 'GET', path, { 'x-tenant-id': 'acme' }), { kind: 'passthrough' }, path)
  }
})

t.test('the query string does not affect which resource a request addresses', async t => {
  const c = classify(compiled, 'GET', '/api/v1/tenants/acme/alert-rules?cursor=abc&limit=50', {})
  t.equal(c.kind, 'read')
  if (c.kind !== 'read') return
  t.equal(c.match.kind, 'collection')
  t.equal(c.slice.tenant, 'acme')
  t.same(classify(compiled, 'GET', '/healthz?x=/api/v1/tenants/acme/alert-rules', {}), { kind: 'passthrough' })
})

t.test('tenant from path parameter before header', async t => {
  const c = classify(compiled, 'GET', '/api/v1/tenants/acme/alert-rules', { 'x-tenant-id': 'globex' })
  t.equal(c.kind === 'read' && c.slice.tenant, 'acme')
})

t.test('tenant from the header when the path has no tenant parameter', async t => {
  const headerOnly = compilePolicy(policyWith({
    resources: [{ type: 'silence', collection: '/api/v2/silences', item: '/api/v2/silences/:id' }],
  }), 'h')
  const c = classify(headerOnly, 'GET', '/api/v2/silences/s1', { 'x-tenant-id': 'globex' })
  t.same(c.kind === 'read' && c.slice, { tenant: 'globex', region: 'us-east-1', resourceType: 'silence' })
  const repeated = classify(headerOnly, 'GET', '/api/v2/silences', { 'x-tenant-id': ['initech', 'globex'] })
  t.equal(repeated.kind === 'read' && repeated.slice.tenant, 'initech', 'a repeated header counts once, first value')
  const none = classify(headerOnly, 'GET', '/api/v2/silences', {})
  t.equal(none.kind === 'read' && none.slice.tenant, undefined)
  const empty = classify(headerOnly, 'GET', '/api/v2/silences', { 'x-tenant-id': '' })
  t.equal(empty.kind === 'read' && empty.slice.tenant, undefined, 'an empty header is no tenant')
})

t.test('an empty tenant path segment is no tenant, so the header decides', async t => {
  const c = classify(compiled, 'GET', '/api/v1/tenants//alert-rules', { 'x-tenant-id': 'globex' })
  t.equal(c.kind === 'read' && c.slice.tenant, 'globex')
  const bare = classify(compiled, 'GET', '/api/v1/tenants//alert-rules', {})
  t.equal(bare.kind === 'read' && bare.slice.tenant, undefined)
})

t.test('the tenant path parameter and headers follow the identity settings', async t => {
  const custom = compilePolicy(policyWith({
    identity: { tenant: { pathParam: 'org', header: 'X-Org' }, region: { header: 'X-Zone', default: 'eu-central-1' } },
    resources: [{ type: 'alert-rule', collection: '/orgs/:org/rules', item: '/orgs/:org/rules/:id' }],
  }), 'c')
  const c = classify(custom, 'GET', '/orgs/initech/rules', { 'x-zone': 'ap-south-1' })
  t.same(c.kind === 'read' && c.slice, { tenant: 'initech', region: 'ap-south-1', resourceType: 'alert-rule' })
})

t.test('region comes from its header', async t => {
  const c = classify(compiled, 'GET', '/api/v1/tenants/acme/routes', { 'x-region': 'eu-west-1' })
  t.equal(c.kind === 'read' && c.slice.region, 'eu-west-1')
  const repeated = classify(compiled, 'GET', '/api/v1/tenants/acme/routes', { 'x-region': ['eu-west-1', 'us-east-1'] })
  t.equal(repeated.kind === 'read' && repeated.slice.region, 'eu-west-1')
})

t.test('region falls back to default', async t => {
  for (const headers of [{}, { 'x-region': '' }, { 'x-region': [] as string[] }]) {
    const c = classify(compiled, 'GET', '/api/v1/tenants/acme/routes', headers)
    t.equal(c.kind === 'read' && c.slice.region, 'us-east-1', JSON.stringify(headers))
  }
})

t.test('a path-encoded tenant is decoded', async t => {
  const c = classify(compiled, 'GET', '/api/v1/tenants/acme%20corp/alert-rules', {})
  t.equal(c.kind === 'read' && c.slice.tenant, 'acme corp')
})
