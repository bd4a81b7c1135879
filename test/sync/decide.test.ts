import fc from 'fast-check'
import t from 'tap'
import { decide } from '../../src/sync/decide.ts'

t.test('equal objects need nothing; a new or changed source object is written', async t => {
  t.match(decide({ sourceHash: 'a', targetHash: 'a' }), { op: 'unchanged', conflict: false })
  t.match(decide({ sourceHash: undefined, targetHash: undefined }), { op: 'unchanged' })
  t.match(decide({ sourceHash: 'a', targetHash: undefined }), { op: 'upsert', conflict: false })
  t.match(decide({ sourceHash: 'b', targetHash: 'a', appliedHash: 'a' }), { op: 'upsert', conflict: false })
})

t.test('a deletion at the source deletes the target', async t => {
  t.match(decide({ sourceHash: undefined, targetHash: 'a', appliedHash: 'a' }), { op: 'delete', conflict: false, reason: 'deleted at the source' })
})

t.test('a target changed outside the sync loses to the authority, and it is a conflict', async t => {
  t.match(decide({ sourceHash: 'a', targetHash: 'x', appliedHash: 'a' }), { op: 'upsert', conflict: true })
  t.match(decide({ sourceHash: undefined, targetHash: 'x', appliedHash: 'a' }), { op: 'delete', conflict: true })
})

t.test('a page holding an older source revision than the one applied is read again by key, never written', async t => {
  t.match(decide({ sourceHash: 'old', targetHash: 'new', appliedHash: 'new', sourceVersion: 3, appliedVersion: 4, readAt: 1 }), { op: 'reread', reason: /version 3, older than the 4 already applied/ })
  t.match(decide({ sourceHash: 'new', targetHash: 'new', appliedHash: 'new', sourceVersion: 4, appliedVersion: 4, readAt: 1 }), { op: 'unchanged' }, 'the same revision is not stale')
})

t.test("revisions are the source's own: the target's, and a key read on its own, never block a write", async t => {
  // A store that bumps its revision on every write (a replay after a crash included) is ahead
  // of the source; only what the sync applied from the source counts.
  t.match(decide({ sourceHash: 'b', targetHash: 'a', appliedHash: 'a', sourceVersion: 2, appliedVersion: 1 }), { op: 'upsert', conflict: false })
  t.match(decide({ sourceHash: 'b', targetHash: 'a', appliedHash: 'a', sourceVersion: 1, appliedVersion: 7 }), { op: 'upsert', conflict: false }, 'deleted and created again: the revision starts over, and the read by key is the truth')
})

t.test('the watermark rule: a page never overwrites a key changed or deleted after it was read', async t => {
  t.match(decide({ sourceHash: 'stale', targetHash: 'fresh', appliedHash: 'fresh', readAt: 100, changedAt: 150 }), { op: 'skip', reason: /after the page was read/ })
  t.match(decide({ sourceHash: 'stale', targetHash: undefined, readAt: 100, tombstoneAt: 120 }), { op: 'skip' }, 'a late upsert never resurrects a deleted object')
  t.match(decide({ sourceHash: 'recreated', targetHash: undefined, tombstoneAt: 120 }), { op: 'upsert' }, 'until the source really re-creates it (read by key, after the deletion)')
  t.match(decide({ sourceHash: 'a', targetHash: undefined, readAt: 200, changedAt: 150, tombstoneAt: 120 }), { op: 'upsert' }, 'older changes do not block a newer page')
})

t.test('deciding twice on the outcome of a decision does nothing more (idempotence)', async t => {
  const hash = fc.option(fc.constantFrom('a', 'b', 'c'), { nil: undefined })
  fc.assert(fc.property(hash, hash, hash, (source, target, applied) => {
    const first = decide({ sourceHash: source, targetHash: target, appliedHash: applied })
    if (first.op === 'skip') return true
    // After an upsert or delete the target equals the source, and the sync knows what it wrote.
    const after = first.op === 'unchanged' ? target : source
    const second = decide({ sourceHash: source, targetHash: after, appliedHash: source })
    return second.op === 'unchanged' && !second.conflict
  }))
})
