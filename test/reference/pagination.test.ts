// Paging through a list over HTTP while others write: every object that exists throughout the
// walk is returned exactly once, whatever is created, updated or deleted between pages.
import fc from 'fast-check'
import t from 'tap'
import { DEFAULT_LIMIT, MAX_LIMIT } from '../../src/reference/pagination.ts'
import { call, startApi, walk, type Page, type Problem } from './client.ts'

const id = fc.string({ unit: fc.constantFrom(...'abcdefXYZ019-_~é'), minLength: 1, maxLength: 3 })
const write = fc.record({ op: fc.constantFrom('put', 'delete'), id })

t.test('writes between pages never make a walk skip or repeat an object that exists throughout (property)', async t => {
  const api = await startApi(t)
  let run = 0
  await fc.assert(fc.asyncProperty(
    fc.uniqueArray(id, { maxLength: 25 }),
    fc.integer({ min: 1, max: 6 }),
    fc.array(fc.array(write, { maxLength: 4 }), { maxLength: 12 }),
    fc.boolean(),
    async (initial, limit, batches, reorderLists) => {
      const tenant = `t${run++}`
      api.setFlavour({ reorderLists })
      for (const each of initial) api.store.put('alert-rule', tenant, each, { n: 0 })
      const collection = `/api/v1/tenants/${tenant}/alert-rules`
      const touched = new Set<string>()
      const pages = await walk(api, collection, limit, async page => {
        for (const w of batches[page - 1] ?? []) {
          touched.add(w.id)
          const path = `${collection}/${encodeURIComponent(w.id)}`
          await call(api, w.op === 'put' ? 'PUT' : 'DELETE', path, w.op === 'put' ? { n: page } : undefined)
        }
      })

      const seen = pages.flatMap(page => reorderLists ? page.toReversed() : page)
      for (let i = 1; i < seen.length; i++) {
        if (!(seen[i - 1]! < seen[i]!)) throw new Error(`ids out of order or repeated: ${seen.join(' ')}`)
      }
      for (const page of pages) {
        const inOrder = page.toSorted()
        if (reorderLists) inOrder.reverse()
        if (page.join() !== inOrder.join() || page.length > limit) throw new Error(`page ${page.join(' ')} is not ${reorderLists ? 'reversed' : 'in id order'} or too long`)
      }
      // Deleted ones were gone at some point; updated ones existed throughout.
      const deleted = new Set(batches.flat().filter(w => w.op === 'delete').map(w => w.id))
      for (const survivor of initial.filter(each => !deleted.has(each))) {
        if (!seen.includes(survivor)) throw new Error(`${survivor} exists throughout but the walk skipped it: ${seen.join(' ')}`)
      }
      for (const each of seen) {
        if (!initial.includes(each) && !touched.has(each)) throw new Error(`${each} never existed`)
      }
    },
  ), { numRuns: 150 })
  t.pass('no walk skipped or repeated an object')
})

t.test('limit defaults to 100 and goes up to 1000; the last page has no next cursor', async t => {
  const api = await startApi(t, { seed: { tenants: ['acme'], perType: 1001 } })
  const first = await call<Page>(api, 'GET', '/api/v1/tenants/acme/teams')
  t.equal(first.body.items.length, DEFAULT_LIMIT)
  t.equal(first.body.items[0]!.id, 'team-0001')
  const big = await call<Page>(api, 'GET', `/api/v1/tenants/acme/teams?limit=${MAX_LIMIT}&cursor=`)
  t.equal(big.body.items.length, MAX_LIMIT, 'an empty cursor starts from the beginning')
  const last = await call<Page>(api, 'GET', `/api/v1/tenants/acme/teams?limit=${MAX_LIMIT}&cursor=${big.body.nextCursor}`)
  t.same([last.body.items.map(i => i.id), last.body.nextCursor], [['team-1001'], null])
  t.same((await call<Page>(api, 'GET', '/api/v1/tenants/nobody/teams')).body, { items: [], nextCursor: null })
})

t.test('a bad limit or cursor is a 400 that says what to send', async t => {
  const api = await startApi(t, { seed: { tenants: ['acme'], perType: 3 } })
  const { body } = await call<Page>(api, 'GET', '/api/v1/tenants/acme/routes?limit=1')
  t.ok(body.nextCursor)
  const tampered = Buffer.from('before:route-0001').toString('base64url')
  const cases = [
    ['limit=0', /limit must be a whole number from 1 to 1000/],
    ['limit=1001', /limit/], ['limit=abc', /limit/], ['limit=1.5', /limit/], ['limit=-1', /limit/], ['limit=01', /limit/], ['limit=1&limit=2', /limit/],
    ['cursor=!!!', /cursor is not one this API returned/],
    [`cursor=${tampered}`, /cursor/],
    [`cursor=${body.nextCursor}=`, /cursor/],
    [`cursor=${body.nextCursor}&cursor=${body.nextCursor}`, /cursor/],
  ] as const
  for (const [query, detail] of cases) {
    const answer = await call<Problem>(api, 'GET', `/api/v1/tenants/acme/routes?${query}`)
    t.match([answer.status, answer.body], [400, { error: 'bad_request', detail }], query)
  }
})
