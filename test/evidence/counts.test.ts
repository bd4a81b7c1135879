// Counting one shadow pair into a slice's fields (src/evidence/counts.ts): the field names every
// replica and the store agree on, however many slices pass through one process.
import t from 'tap'
import { addObservation, latencyBucket, slicesOf, type Fields } from '../../src/evidence/counts.ts'

t.test('an observation bumps its outcome, each failed side and each side\'s latency bucket, under the slice\'s names', async t => {
  const fields: Fields = new Map()
  addObservation(fields, { rule: 'default', resourceType: 'alert-rule', outcome: 'match', latencyMs: { old: 2, new: 30 } })
  addObservation(fields, { rule: 'default', resourceType: 'alert-rule', outcome: 'match', latencyMs: { old: 2 } })
  addObservation(fields, { rule: 'default', resourceType: 'alert-rule', failed: ['new'] })
  addObservation(fields, { rule: 'eu', resourceType: 'alert-rule', outcome: 'critical', latencyMs: { new: 1e9 } })
  t.same(Object.fromEntries(fields), {
    'default\u0000alert-rule\u0000match': 2,
    [`default\u0000alert-rule\u0000lat:old:${latencyBucket(2)}`]: 2,
    [`default\u0000alert-rule\u0000lat:new:${latencyBucket(30)}`]: 1,
    'default\u0000alert-rule\u0000err:new': 1,
    'eu\u0000alert-rule\u0000critical': 1,
    'eu\u0000alert-rule\u0000lat:new:53': 1,
  }, 'a latency past the last bound counts in the overflow bucket')
})

t.test('past a thousand slices in one process the names are made again, and the counts stay right', async t => {
  const fields: Fields = new Map()
  for (let round = 0; round < 2; round++) {
    for (let i = 0; i < 1500; i++) addObservation(fields, { rule: `r${i}`, resourceType: 'alert-rule', outcome: 'cosmetic', latencyMs: { old: 1 } })
  }
  const slices = slicesOf(fields)
  t.equal(slices.length, 1500)
  t.ok(slices.every(s => s.results.cosmetic === 2 && s.samples === 2), 'every slice counted twice')
})
