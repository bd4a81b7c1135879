import t from 'tap'
import { compilePolicy } from '../../src/policy/compile.ts'
import { explainRequest } from '../../src/cli/explain.ts'
import { stickyBucket } from '../../src/policy/choose.ts'
import { policyWith, referencePolicy } from '../policy/fixtures.ts'

const reference = compilePolicy(referencePolicy(), 'h')

/** A tenant name whose sticky bucket satisfies `accept`. */
function tenantWhere(accept: (bucket: number) => boolean): string {
  for (let i = 0; ; i++) if (accept(stickyBucket(`t${i}`))) return `t${i}`
}

t.test('explain says which rules were skipped and why, then which rule serves', async t => {
  const tenant = tenantWhere(b => b >= 1000)
  const lines = explainRequest(reference, { method: 'GET', path: `/api/v1/tenants/${tenant}/alert-rules`, headers: { 'x-region': 'eu-west-1' } })
  t.same(lines, [
    `request:   GET /api/v1/tenants/${tenant}/alert-rules`,
    'resource:  alert-rule (collection /api/v1/tenants/:tenant/alert-rules)',
    'shape:     collection + item: the list (items at /items), compared as a set of items matched by /id',
    `tenant:    ${tenant}`,
    'region:    eu-west-1',
    'skipped:   rule "acme-on-new" (match {"tenants":["acme"],"resourceTypes":["alert-rule"]})',
    'rule:      "eu-canary" (match {"regions":["eu-west-1"]})',
    'served by: old; reason: rule (primary; tenant is outside the sticky newPercent 10% share)',
    'shadow:    10% of these reads are also sent to new and compared',
    'fallback:  on error, timeout, 5xx or open breaker, new serves',
    'overrides: a rollback of "eu-canary" or a recent write through the proxy would send it to old instead',
  ])
})

t.test('explain says when a tenant is inside the sticky newPercent share', async t => {
  const tenant = tenantWhere(b => b < 1000)
  const lines = explainRequest(reference, { method: 'GET', path: `/api/v1/tenants/${tenant}/teams/t1`, headers: { 'x-region': 'eu-west-1' } })
  t.ok(lines.includes('served by: new; reason: percent (tenant is inside the sticky newPercent 10% share)'), lines.join('\n'))
  t.ok(lines.includes('shadow:    10% of these reads are also sent to old and compared'))
  t.ok(lines.includes('fallback:  on error, timeout, 5xx or open breaker, old serves'))
})

t.test('explain shows the first matching rule and no skipped rules when the first rule matches', async t => {
  const lines = explainRequest(reference, { method: 'get', path: '/api/v1/tenants/acme/alert-rules/r1', headers: {} })
  t.same(lines, [
    'request:   GET /api/v1/tenants/acme/alert-rules/r1',
    'resource:  alert-rule (item /api/v1/tenants/:tenant/alert-rules/:id)',
    'shape:     collection + item: one object, compared whole',
    'tenant:    acme',
    'region:    us-east-1 (default)',
    'rule:      "acme-on-new" (match {"tenants":["acme"],"resourceTypes":["alert-rule"]})',
    'served by: new; reason: rule (primary)',
    'shadow:    100% of these reads are also sent to old and compared',
    'fallback:  on error, timeout, 5xx or open breaker, old serves',
    'overrides: a rollback of "acme-on-new" or a recent write through the proxy would send it to old instead',
  ])
})

t.test('explain names the catch-all rule as such and lists every rule it passed', async t => {
  const lines = explainRequest(reference, { method: 'HEAD', path: '/api/v1/tenants/globex/routes', headers: { 'x-region': 'us-west-2' } })
  t.same(lines.filter(l => l.startsWith('skipped:')), [
    'skipped:   rule "acme-on-new" (match {"tenants":["acme"],"resourceTypes":["alert-rule"]})',
    'skipped:   rule "eu-canary" (match {"regions":["eu-west-1"]})',
  ])
  t.ok(lines.includes('rule:      "default" (catch-all)'))
  t.ok(lines.includes('region:    us-west-2'))
  t.ok(lines.includes('shadow:    1% of these reads are also sent to new and compared'))
})

t.test('explain says a read without a tenant has none', async t => {
  const compiled = compilePolicy(policyWith({
    resources: [{ type: 'silence', collection: '/api/v2/silences', item: '/api/v2/silences/:id' }],
  }), 'h')
  const lines = explainRequest(compiled, { method: 'GET', path: '/api/v2/silences', headers: {} })
  t.ok(lines.includes('tenant:    (none: no path parameter or header)'), lines.join('\n'))
})

t.test('explain says when fallback is off that errors reach the client', async t => {
  const compiled = compilePolicy(policyWith({
    resources: [{ type: 'silence', collection: '/api/v2/silences', item: '/api/v2/silences/:id' }],
    rules: [{ name: 'strict', primary: 'new', fallback: false }],
  }), 'h')
  const lines = explainRequest(compiled, { method: 'GET', path: '/api/v2/silences', headers: { 'x-tenant-id': 'acme' } })
  t.ok(lines.includes('fallback:  off: errors from the serving side reach the client'), lines.join('\n'))
  t.ok(lines.includes('served by: new; reason: rule (primary)'))
  t.ok(lines.includes('shadow:    0% of these reads are also sent to old and compared'))
})

t.test('explain says a write goes to the authority only and starts read-your-writes', async t => {
  const lines = explainRequest(reference, { method: 'PUT', path: '/api/v1/tenants/acme/alert-rules/r1', headers: {} })
  t.same(lines, [
    'request:   PUT /api/v1/tenants/acme/alert-rules/r1',
    'resource:  alert-rule (item /api/v1/tenants/:tenant/alert-rules/:id)',
    'shape:     collection + item: one object, compared whole',
    'tenant:    acme',
    'region:    us-east-1 (default)',
    'served by: old (the authority); reason: write',
    '           new never sees writes; reads of acme/alert-rule then go to old for 5000 ms (read-your-writes)',
  ])
})

t.test('explain of a write without a tenant and a new authority', async t => {
  const compiled = compilePolicy(policyWith({
    authority: 'new',
    readYourWrites: { windowMs: 250 },
    resources: [{ type: 'silence', collection: '/api/v2/silences', item: '/api/v2/silences/:id' }],
  }), 'h')
  const lines = explainRequest(compiled, { method: 'DELETE', path: '/api/v2/silences/s1', headers: {} })
  t.same(lines.slice(-2), [
    'served by: new (the authority); reason: write',
    '           old never sees writes; reads of this tenant/silence then go to new for 250 ms (read-your-writes)',
  ])
})

t.test('explain says an unmatched path is streamed to the authority and never shadowed', async t => {
  t.same(explainRequest(reference, { method: 'GET', path: '/healthz', headers: {} }), [
    'request:   GET /healthz',
    'resource:  none (the path matches no collection or item pattern)',
    'served by: old (the authority), streamed untouched; reason: passthrough',
    'shadow:    never for unmatched paths',
  ])
})

t.test('explain resolves the path first, as the proxy does, and says what a refused one gets', async t => {
  const lines = explainRequest(reference, { method: 'PUT', path: '/api/v1/tenants/foo/%2e%2e/acme/alert-rules/r3', headers: {} })
  t.equal(lines[0], 'request:   PUT /api/v1/tenants/foo/%2e%2e/acme/alert-rules/r3 (resolves to /api/v1/tenants/acme/alert-rules/r3, which is what the upstream is sent)')
  t.match(lines.join('\n'), /tenant: {4}acme[\s\S]*reason: write/)
  t.same(explainRequest(reference, { method: 'GET', path: '/../x', headers: {} }), [
    'request:   GET /../x',
    'refused:   400 bad_request: the path climbs above the root with ".." segments: remove them',
  ])
})

t.test('explain says a method that changes nothing goes to the authority without read-your-writes', async t => {
  const lines = explainRequest(reference, { method: 'OPTIONS', path: '/api/v1/tenants/acme/alert-rules/r1', headers: {} })
  t.same(lines.slice(-2), [
    'served by: old (the authority), streamed untouched; reason: passthrough',
    '           OPTIONS neither reads nor changes state: no read-your-writes, nothing announced to the sync',
  ])
})

t.test('with shadow.credentials: upstream, explain says which headers shadow reads carry, by name and source only', async t => {
  const resources = [{ type: 'alert-rule', collection: '/r', item: '/r/:id' }]
  const rules = [{ name: 'default', primary: 'old' as const, shadowPercent: 5 }]
  const withHeaders = compilePolicy(policyWith({
    resources, rules, shadow: { credentials: 'upstream' },
    upstreams: { old: { url: 'http://a' }, new: { url: 'http://b', headers: { Authorization: { env: 'NEW_TOKEN', prefix: 'Bearer ' }, 'x-org': 'literal-value-1' } } },
  }), 'h')
  const lines = explainRequest(withHeaders, { method: 'GET', path: '/r/1', headers: {} })
  t.ok(lines.includes('           shadow reads carry upstreams.new.headers instead of the client\'s credentials: authorization from env NEW_TOKEN, after "Bearer", x-org from the policy (literal)'), lines.join('\n'))
  t.notMatch(lines.join('\n'), /literal-value-1/)
  const without = compilePolicy(policyWith({ resources, rules, shadow: { credentials: 'upstream' } }), 'h')
  t.ok(explainRequest(without, { method: 'GET', path: '/r/1', headers: {} }).includes('           shadow reads carry no credentials (shadow.credentials: upstream, and upstreams.new.headers is empty)'))
  const client = compilePolicy(policyWith({ resources, rules }), 'h')
  t.notOk(explainRequest(client, { method: 'GET', path: '/r/1', headers: {} }).some(l => l.includes('shadow reads carry')), 'nothing extra with the default: the client\'s own headers, as always')
})
