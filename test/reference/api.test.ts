// The reference alerting API over real HTTP: CRUD on every resource type, versions, tenants,
// probes, and bad input answered with JSON errors.
import { connect } from 'node:net'
import { once } from 'node:events'
import t from 'tap'
import { startReferenceApi } from '../../src/reference/server.ts'
import { COLLECTIONS, RESOURCE_TYPES } from '../../src/reference/resource-types.ts'
import { call, startApi, type Page, type Problem } from './client.ts'

t.test('every resource type supports create, read, update and delete by client id', async t => {
  const api = await startApi(t)
  for (const type of RESOURCE_TYPES) {
    const item = `/api/v1/tenants/acme/${COLLECTIONS[type]}/cpu-high`
    const created = await call(api, 'PUT', item, { name: 'CPU high', threshold: 0.9, id: 'ignored', tenant: 'ignored' })
    t.equal(created.status, 200, `PUT creates a ${type}`)
    t.match(created.body, { id: 'cpu-high', tenant: 'acme', version: 1, name: 'CPU high', threshold: 0.9 }, 'the path names the object, not the body')
    t.equal(new Date(created.body.updatedAt).toISOString(), created.body.updatedAt, 'updatedAt is an ISO time')
    t.same((await call(api, 'GET', item)).body, created.body)

    const updated = await call(api, 'PUT', item, { name: 'CPU very high' })
    t.match(updated.body, { version: 2, name: 'CPU very high' }, 'an update counts the version up')
    t.notOk('threshold' in updated.body, 'PUT replaces the whole object')

    t.equal((await call(api, 'DELETE', item)).status, 204)
    t.same(await call(api, 'GET', item).then(a => [a.status, a.body]), [404, { error: 'not_found' }])
    t.equal((await call(api, 'DELETE', item)).status, 404, 'deleting what is gone is a 404')
    t.equal(api.store.count(type), 0)
  }
})

t.test('a numeric version in the body is kept as given; without one the version counts up from it', async t => {
  const api = await startApi(t)
  const item = '/api/v1/tenants/acme/alert-rules/r1'
  t.equal((await call(api, 'PUT', item, { name: 'a', version: 7 })).body.version, 7, 'a sync copying objects keeps their versions')
  t.equal((await call(api, 'PUT', item, { name: 'b' })).body.version, 8)
  t.equal((await call(api, 'PUT', item, { name: 'c', version: 3 })).body.version, 3, 'even an older one')
  t.equal(api.store.get('alert-rule', 'acme', 'r1')?.version, 3)
  const bad = await call<Problem>(api, 'PUT', item, { name: 'd', version: '9' })
  t.match([bad.status, bad.body], [400, { error: 'bad_request', detail: /version must be a number/ }])
})

t.test('POST creates an object under a new server-assigned id', async t => {
  const api = await startApi(t)
  const created = await call(api, 'POST', '/api/v1/tenants/acme/contact-points', { type: 'slack', address: '#oncall', id: 'mine' })
  t.equal(created.status, 201)
  t.match(created.body, { id: /^[0-9a-f-]{36}$/, tenant: 'acme', version: 1, type: 'slack' })
  t.equal(created.headers.get('location'), `/api/v1/tenants/acme/contact-points/${created.body.id}`)
  t.same((await call(api, 'GET', created.headers.get('location')!)).body, created.body)
  const second = await call(api, 'POST', '/api/v1/tenants/acme/contact-points', { type: 'email' })
  t.not(second.body.id, created.body.id)
  t.equal((await call<Problem>(api, 'POST', '/api/v1/tenants/acme/contact-points', { version: true })).status, 400)
})

t.test('bad input is answered with a JSON error', async t => {
  const api = await startApi(t)
  const item = '/api/v1/tenants/acme/teams/t1'
  for (const body of ['not json', '[1,2]', 'null', '"text"', '']) {
    const answer = await call<Problem>(api, 'PUT', item, body)
    t.same([answer.status, answer.body], [400, { error: 'bad_request', detail: 'the body must be a JSON object' }], `body ${JSON.stringify(body)}`)
  }
  const huge = await call<Problem>(api, 'PUT', item, JSON.stringify({ blob: 'x'.repeat(1024 * 1024) }))
  t.match([huge.status, huge.body], [413, { error: 'too_large' }])
  for (const path of ['/nope', '/api/v1/tenants/acme/widgets', '/api/v1/tenants//teams', '/api/v1/tenants/acme/teams//', '/api/v1/tenants/acme/teams/%zz']) {
    t.same(await call<Problem>(api, 'GET', path).then(a => [a.status, a.body]), [404, { error: 'not_found' }], path)
  }
  t.equal((await call(api, 'PATCH', item, {})).status, 404, 'a method the API does not have')
  t.equal(api.store.count(), 0)
})

t.test('ids and tenants are taken from the path as decoded', async t => {
  const api = await startApi(t)
  const put = await call(api, 'PUT', '/api/v1/tenants/acme%20eu/routes/critical%2Fpager', { receiver: 'pager' })
  t.match(put.body, { id: 'critical/pager', tenant: 'acme eu' })
  t.ok(api.store.get('route', 'acme eu', 'critical/pager'))
  const posted = await call(api, 'POST', '/api/v1/tenants/acme%20eu/routes', { receiver: 'chat' })
  t.match(posted.headers.get('location'), /^\/api\/v1\/tenants\/acme%20eu\/routes\//)
})

t.test('tenants: those holding an object plus those created, sorted, paged', async t => {
  const api = await startApi(t, { seed: { tenants: ['initech', 'acme'], perType: 1 } })
  await call(api, 'PUT', '/api/v1/tenants/globex/teams/t1', { members: [] })
  t.same((await call(api, 'PUT', '/api/v1/tenants/empty-co', {})).body, { id: 'empty-co' })
  const all = await call<Page>(api, 'GET', '/api/v1/tenants')
  t.same(all.body, { items: [{ id: 'acme' }, { id: 'empty-co' }, { id: 'globex' }, { id: 'initech' }], nextCursor: null })

  const first = await call<Page>(api, 'GET', '/api/v1/tenants?limit=3')
  t.same(first.body.items, [{ id: 'acme' }, { id: 'empty-co' }, { id: 'globex' }])
  const rest = await call<Page>(api, 'GET', `/api/v1/tenants?limit=3&cursor=${first.body.nextCursor}`)
  t.same(rest.body, { items: [{ id: 'initech' }], nextCursor: null })

  await call(api, 'DELETE', '/api/v1/tenants/globex/teams/t1')
  const ids = (await call<Page>(api, 'GET', '/api/v1/tenants')).body.items.map(i => i.id)
  t.same(ids, ['acme', 'empty-co', 'initech'], 'a tenant whose last object is deleted goes; a created one stays')
  t.equal((await call<Problem>(api, 'GET', '/api/v1/tenants?limit=0')).status, 400)
})

t.test('probes answer on / and /healthz; HEAD works wherever GET does', async t => {
  const api = await startApi(t, { seed: { tenants: ['acme'], perType: 1 } })
  for (const path of ['/', '/healthz']) t.match(await call(api, 'GET', path), { status: 200, body: { ok: true } })
  const head = await fetch(api.url + '/api/v1/tenants/acme/alert-rules/alert-rule-0001', { method: 'HEAD' })
  t.equal(head.status, 200)
  t.equal(await head.text(), '', 'no body')
  t.equal((await fetch(api.url + '/api/v1/tenants/acme/alert-rules/none', { method: 'HEAD' })).status, 404)
})

t.test('a client hanging up halfway through a body leaves the API serving', async t => {
  const api = await startApi(t)
  const socket = connect(Number(new URL(api.url).port), '127.0.0.1')
  await once(socket, 'connect')
  socket.write('PUT /api/v1/tenants/acme/teams/t1 HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"na')
  await new Promise(resolve => setTimeout(resolve, 20))
  socket.destroy()
  await once(socket, 'close')
  await new Promise(resolve => setTimeout(resolve, 50))
  t.equal((await call(api, 'GET', '/healthz')).status, 200)
  t.equal(api.store.count(), 0, 'nothing half-written')
})

t.test('seeding is deterministic and realistic', async t => {
  const [a, b, c] = await Promise.all([
    startApi(t, { seed: { perType: 3 } }),
    startApi(t, { seed: { perType: 3 } }),
    startApi(t, { seed: { perType: 3, seed: 2 } }),
  ])
  t.same(a.store.snapshot(), b.store.snapshot(), 'the same options give the same objects')
  t.notSame(a.store.snapshot(), c.store.snapshot(), 'another seed, other content')
  t.equal(a.store.count(), 4 * 5 * 3, 'four default tenants, five types')
  t.match(a.store.get('alert-rule', 'acme', 'alert-rule-0002'), {
    name: String, enabled: Boolean, threshold: Number, for: /^\d+m$/, receivers: [{ name: String }], routing: { receiver: String },
    owner: /^team-/, labels: Array, escalationPolicyId: 'escalation-policy-0002', version: 1,
  })
  t.match(a.store.get('contact-point', 'globex', 'contact-point-0001'), { type: String, address: String, config: { token: /^tok_[0-9a-f]{16}$/, url: String } })
  const defaults = await startApi(t, { seed: {} })
  t.equal(defaults.store.count('team', 'umbrella'), 20)
})

t.test('the url names the address it listens on; close is idempotent; a taken port is an error', async t => {
  const api = await startReferenceApi({ host: '::1' })
  t.match(api.url, /^http:\/\/\[::1\]:\d+$/)
  t.equal((await fetch(api.url + '/healthz')).status, 200)
  await t.rejects(startReferenceApi({ port: Number(new URL(api.url).port), host: '::1' }), { code: 'EADDRINUSE' })
  await Promise.all([api.close(), api.close()])
  await t.rejects(fetch(api.url + '/healthz'))
})
