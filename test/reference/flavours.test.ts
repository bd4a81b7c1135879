// Store flavours and fault knobs, each against the real server, and switching them at runtime
// through POST /_flavour.
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { durationInSeconds, PLAIN_FLAVOUR, type Flavour } from '../../src/reference/flavours.ts'
import { startReferenceApi } from '../../src/reference/server.ts'
import { call, startApi, walk, type Page, type Problem } from './client.ts'

const RULE = '/api/v1/tenants/acme/alert-rules/r1'

t.test('normalizeDurations stores duration strings under for, repeatInterval, groupWait and timeout as seconds', async t => {
  const api = await startApi(t, { flavour: { normalizeDurations: true } })
  const body = {
    for: '5m', repeatInterval: '1h30m', groupWait: '250ms', other: '5m', name: 'for',
    steps: [{ timeout: '1.5s' }, { timeout: 'soon' }, { timeout: 30 }],
    routes: [{ groupWait: '300s' }],
  }
  const expected = {
    for: '300s', repeatInterval: '5400s', groupWait: '0.25s', other: '5m', name: 'for',
    steps: [{ timeout: '1.5s' }, { timeout: 'soon' }, { timeout: 30 }],
    routes: [{ groupWait: '300s' }],
  }
  t.match((await call(api, 'PUT', RULE, body)).body, expected, 'the answer to the write is normalized')
  t.match(api.store.get('alert-rule', 'acme', 'r1'), expected, 'and so is what is stored')
  t.equal(durationInSeconds('2d'), '172800s')
})

t.test('dropField quietly drops one top-level field on write', async t => {
  const api = await startApi(t, { flavour: { dropField: 'escalationPolicyId' } })
  const written = await call(api, 'PUT', RULE, { name: 'cpu', escalationPolicyId: 'ep-1', routing: { escalationPolicyId: 'ep-2' } })
  t.equal(written.status, 200)
  t.same(api.store.get('alert-rule', 'acme', 'r1'), { ...written.body, name: 'cpu', routing: { escalationPolicyId: 'ep-2' } })
  t.notOk('escalationPolicyId' in written.body)
  api.setFlavour({ dropField: null })
  t.equal((await call(api, 'PUT', RULE, { escalationPolicyId: 'ep-1' })).body['escalationPolicyId'], 'ep-1')
})

t.test('selfVersioning: the store assigns its own revision on every write, whatever the body says', async t => {
  const api = await startApi(t, { flavour: { selfVersioning: true, dropField: 'x' } })
  t.equal((await call(api, 'PUT', RULE, { name: 'cpu', version: 40, x: 1 })).body.version, 1, 'a create is revision 1, not the version given')
  t.equal((await call(api, 'PUT', RULE, { name: 'cpu', version: 40 })).body.version, 2, 'a write of the same content still bumps it')
  t.same(api.store.get('alert-rule', 'acme', 'r1'), { id: 'r1', tenant: 'acme', name: 'cpu', version: 2, updatedAt: api.store.get('alert-rule', 'acme', 'r1')!.updatedAt })
  api.setFlavour({ selfVersioning: false })
  t.equal((await call(api, 'PUT', RULE, { version: 40 })).body.version, 40, 'a plain store keeps the version it is given')
})

t.test('reorderLists reverses each page and the receivers and labels arrays, and pagination stays complete', async t => {
  const api = await startApi(t, { seed: { tenants: ['acme'], perType: 5 }, flavour: { reorderLists: true } })
  const pages = await walk(api, '/api/v1/tenants/acme/teams', 2)
  t.same(pages, [['team-0002', 'team-0001'], ['team-0004', 'team-0003'], ['team-0005']])
  t.same((await call<Page>(api, 'GET', '/api/v1/tenants')).body.items, [{ id: 'acme' }])

  const rule = { receivers: [{ name: 'a' }, { name: 'b' }], labels: ['x', 'y'], routing: { receivers: ['r1', 'r2'], labels: 'not-a-list' } }
  const answered = await call(api, 'PUT', RULE, rule)
  const reversed = { receivers: [{ name: 'b' }, { name: 'a' }], labels: ['y', 'x'], routing: { receivers: ['r2', 'r1'], labels: 'not-a-list' } }
  t.match(answered.body, reversed)
  t.match((await call(api, 'GET', RULE)).body, reversed)
  t.match((await call<Page>(api, 'GET', '/api/v1/tenants/acme/alert-rules?limit=1000')).body.items.find(i => i.id === 'r1'), reversed)
  t.match(api.store.get('alert-rule', 'acme', 'r1'), rule, 'the store keeps the order it was given')
})

t.test('lagMs: a write reaches readers only after the lag; until then they see the previous state', async t => {
  const api = await startApi(t, { flavour: { lagMs: 300 } })
  const created = await call(api, 'PUT', RULE, { n: 1 })
  t.equal(created.status, 200)
  t.equal((await call(api, 'GET', RULE)).status, 404, 'a read right after a create: 404')
  t.same((await call<Page>(api, 'GET', '/api/v1/tenants/acme/alert-rules')).body.items, [])
  t.equal((await call(api, 'PUT', RULE, {})).body.version, 2, 'versions count from the latest write, seen or not')
  await sleep(450)
  t.equal((await call(api, 'GET', RULE)).body.version, 2)

  t.equal((await call(api, 'DELETE', RULE)).status, 204)
  t.equal((await call(api, 'GET', RULE)).body.version, 2, 'a read right after a delete still finds the object')
  t.equal((await call(api, 'DELETE', RULE)).status, 404, 'but writes see the delete')
  await sleep(450)
  t.equal((await call(api, 'GET', RULE)).status, 404)
})

t.test('rejectWritesPercent answers writes as done but does not store that share of them', async t => {
  let draw = 0.5
  const api = await startApi(t, { seed: { tenants: ['acme'], perType: 1 }, random: () => draw, flavour: { rejectWritesPercent: 60 } })
  const put = await call(api, 'PUT', RULE, { name: 'cpu' })
  t.match([put.status, put.body], [200, { id: 'r1', version: 1, name: 'cpu' }])
  t.equal((await call(api, 'POST', '/api/v1/tenants/acme/alert-rules', {})).status, 201)
  t.equal((await call(api, 'DELETE', '/api/v1/tenants/acme/teams/team-0001')).status, 204)
  t.equal((await call(api, 'GET', RULE)).status, 404, 'nothing was stored')
  t.equal(api.store.count('alert-rule'), 1)
  t.ok(api.store.get('team', 'acme', 'team-0001'), 'nor deleted')
  t.equal((await call(api, 'DELETE', '/api/v1/tenants/acme/teams/none')).status, 404, 'a delete of nothing is still a 404')

  draw = 0.7
  t.equal((await call(api, 'PUT', RULE, { name: 'cpu' })).status, 200)
  t.ok(api.store.get('alert-rule', 'acme', 'r1'), 'the other 40% are stored')
})

t.test('errorRate answers that share of API requests 500; probes and the flavour switch are spared', async t => {
  let draw = 0.3
  const api = await startApi(t, { random: () => draw, flavour: { errorRate: 0.4 } })
  const failed = await call<Problem>(api, 'GET', '/api/v1/tenants')
  t.same([failed.status, failed.body], [500, { error: 'injected_fault', detail: 'errorRate' }])
  t.equal((await call(api, 'PUT', RULE, {})).status, 500)
  t.equal(api.store.count(), 0, 'a failed write is not stored')
  t.equal((await call(api, 'GET', '/healthz')).status, 200)
  t.equal((await call(api, 'GET', '/')).status, 200)
  draw = 0.5
  t.equal((await call(api, 'GET', '/api/v1/tenants')).status, 200)
})

t.test('latencyMs is added to API responses, not to probes', async t => {
  const api = await startApi(t, { flavour: { latencyMs: 150 } })
  const timed = async (path: string) => {
    const start = performance.now()
    await call(api, 'GET', path)
    return performance.now() - start
  }
  t.ok(await timed('/api/v1/tenants') >= 145)
  t.ok(await timed('/healthz') < 145)
})

t.test('rateLimit answers 429 with Retry-After: 1 above that many requests per second', async t => {
  const api = await startApi(t, { flavour: { rateLimit: 5 } })
  const answers = await Promise.all(Array.from({ length: 20 }, () => call<Problem>(api, 'GET', '/api/v1/tenants')))
  const limited = answers.filter(a => a.status === 429)
  t.ok(answers.filter(a => a.status === 200).length >= 5, 'a second worth of burst is served')
  t.ok(limited.length >= 10, 'the rest are refused')
  t.match(limited[0], { body: { error: 'rate_limited', detail: 'over 5 requests per second' } })
  t.equal(limited[0]!.headers.get('retry-after'), '1')
  t.equal((await call(api, 'GET', '/healthz')).status, 200, 'probes are not limited')
  await sleep(1100)
  t.equal((await call(api, 'GET', '/api/v1/tenants')).status, 200, 'after a second it serves again')

  api.setFlavour({ rateLimit: 0 })
  const unlimited = await Promise.all(Array.from({ length: 20 }, () => call(api, 'GET', '/api/v1/tenants')))
  t.ok(unlimited.every(a => a.status === 200), '0 means no limit')
})

t.test('POST /_flavour switches flavours at runtime; GET /_flavour shows the one in force', async t => {
  const api = await startApi(t)
  t.same((await call(api, 'GET', '/_flavour')).body, PLAIN_FLAVOUR)
  const changed = await call<Flavour>(api, 'POST', '/_flavour', { normalizeDurations: true, errorRate: 1 })
  t.same(changed.body, { ...PLAIN_FLAVOUR, normalizeDurations: true, errorRate: 1 })
  t.same(api.flavour, changed.body)
  t.equal((await call(api, 'PUT', RULE, { for: '1m' })).status, 500, 'faults hit the API')
  t.equal((await call(api, 'POST', '/_flavour', { errorRate: 0 })).status, 200, 'but never the switch that turns them off')
  t.equal((await call(api, 'PUT', RULE, { for: '1m' })).body['for'], '60s')
  t.equal(api.flavour.normalizeDurations, true, 'keys left out keep their value')

  const cases = [
    [{ lagMS: 10 }, /Unrecognized key: "lagMS"/],
    [{ errorRate: 2 }, /errorRate: .*<=1/],
    [{ lagMs: 1.5 }, /lagMs/],
    [{ dropField: '' }, /dropField/],
    ['[]', /flavour: .*expected object|JSON object/],
    ['nope', /JSON object/],
  ] as const
  for (const [body, detail] of cases) {
    const answer = await call<Problem>(api, 'POST', '/_flavour', body)
    t.match([answer.status, answer.body], [400, { error: 'bad_request', detail }], JSON.stringify(body))
  }
  t.equal(api.flavour.errorRate, 0, 'a rejected change changes nothing')
  t.throws(() => api.setFlavour({ rejectWritesPercent: 101 }), { message: /invalid reference API flavour: rejectWritesPercent/ })
  await t.rejects(startReferenceApi({ flavour: { rateLimit: -1 } }), { message: /rateLimit/ })
})

t.test('etags: answers carry an ETag, and PUT and DELETE honour If-Match and If-None-Match', async t => {
  const api = await startApi(t, { seed: { tenants: ['acme'], perType: 1 }, flavour: { etags: true } })
  const created = await call(api, 'PUT', RULE, { name: 'cpu' }, { 'if-none-match': '*' })
  t.equal(created.status, 200, 'If-None-Match: * creates what is not there')
  const tag = created.headers.get('etag')!
  t.match(tag, /^"[\w-]{22}"$/, 'a strong ETag')
  const read = await call(api, 'GET', RULE)
  t.equal(read.headers.get('etag'), tag, 'a read answers the ETag the write did')
  t.equal((await fetch(api.url + RULE, { method: 'HEAD' })).headers.get('etag'), tag)
  t.ok((await call(api, 'GET', '/api/v1/tenants/acme/alert-rules')).headers.get('etag'), 'so does a list page')

  const refused = async (method: string, headers: Record<string, string>, why: RegExp) => {
    const answer = await call<Problem>(api, method, RULE, method === 'PUT' ? { name: 'refused' } : undefined, headers)
    t.match([answer.status, answer.body], [412, { error: 'precondition_failed', detail: why }], `${method} ${JSON.stringify(headers)}`)
    t.equal(answer.headers.get('etag'), null)
  }
  await refused('PUT', { 'if-none-match': '*' }, /^If-None-Match: \* but the object exists$/)
  await refused('PUT', { 'if-none-match': `"other", ${tag}` }, /but the object's ETag is/)
  await refused('PUT', { 'if-none-match': `W/${tag}` }, /If-None-Match/)
  await refused('PUT', { 'if-match': '"stale"' }, new RegExp(`^If-Match: "stale" but the object's ETag is ${tag}$`))
  await refused('PUT', { 'if-match': `W/${tag}` }, /If-Match/)
  await refused('DELETE', { 'if-match': '"stale"' }, /If-Match/)
  await refused('DELETE', { 'if-none-match': '*' }, /If-None-Match/)
  t.match(api.store.get('alert-rule', 'acme', 'r1'), { name: 'cpu', version: 1 }, 'a refused write changes nothing')

  const updated = await call(api, 'PUT', RULE, { name: 'cpu 2' }, { 'if-match': `"other", ${tag}` })
  t.equal(updated.status, 200, 'If-Match with the current ETag among its list writes')
  t.not(updated.headers.get('etag'), tag, 'a new representation, a new ETag')
  t.equal((await call(api, 'PUT', RULE, { name: 'cpu 3' }, { 'if-none-match': '"other"', 'if-match': '*' })).status, 200)
  t.equal((await call(api, 'DELETE', RULE, undefined, { 'if-match': (await call(api, 'GET', RULE)).headers.get('etag')! })).status, 204)
  await refused('PUT', { 'if-match': '*' }, /^If-Match: \* but there is no such object$/)
  await refused('DELETE', { 'if-match': tag }, /no such object/)
  t.equal((await call(api, 'DELETE', RULE)).status, 404, 'without preconditions, deleting what is gone is still a 404')
  t.equal((await call(api, 'GET', RULE)).headers.get('etag'), null, 'a 404 has no ETag')
  t.equal((await call(api, 'GET', '/healthz')).headers.get('etag'), null, 'nor does a probe')
})

t.test('without etags no ETag is sent and preconditions are ignored; a hook sees each request first', async t => {
  const seen: string[] = []
  const api = await startApi(t, { onRequest: req => { seen.push(`${req.method} ${req.url} ${req.headers['if-match']}`) } })
  const created = await call(api, 'PUT', RULE, { name: 'cpu' }, { 'if-match': '"stale"' })
  t.same([created.status, created.headers.get('etag')], [200, null])
  t.equal((await call(api, 'PUT', RULE, { name: 'cpu' }, { 'if-none-match': '*' })).status, 200)
  t.equal((await call(api, 'DELETE', RULE, undefined, { 'if-match': '"stale"' })).status, 204)
  t.equal(seen[0], `PUT ${RULE} "stale"`)
  t.equal(seen.length, 3)
})

t.test('serverIds: the store names objects itself; a POST naming one it holds updates it, PUT and POST of an unknown id are 404', async t => {
  const api = await startApi(t, { flavour: { serverIds: true } })
  const created = await call(api, 'POST', '/api/v1/tenants/acme/teams', { id: '', name: 'payments' })
  t.equal(created.status, 201)
  const id = (created.body as { id: string }).id
  t.not(id, '', 'a new id')
  t.equal((await call(api, 'PUT', '/api/v1/tenants/acme/teams/mine', { name: 'search' })).status, 404, 'no creating under a client id')
  t.match(await call(api, 'POST', '/api/v1/tenants/acme/teams', { id, name: 'payments', members: ['alice'] }), { status: 200, body: { id, members: ['alice'] } })
  t.equal((await call(api, 'POST', '/api/v1/tenants/acme/teams', { id: 'unknown', name: 'x' })).status, 404)
  t.match(await call(api, 'PUT', `/api/v1/tenants/acme/teams/${id}`, { name: 'payments', members: [] }), { status: 200, body: { id, members: [] } }, 'PUT of an object it holds replaces it')
  t.equal(Object.keys(api.store.snapshot()).length, 1)
})
