// What every StateStore promises the sync loop and the proxy, written once and run against
// each implementation (redis-state-store.test.ts, file-state-store.test.ts).
import type { Test } from 'tap'
import type { ChangeEvent } from '../../src/state/change-stream.ts'
import type { ConflictEntry } from '../../src/state/conflict-log.ts'
import type { StateStore, StateStoreBounds } from '../../src/state/state-store.ts'
import { syncKey } from '../../src/state/sync-key.ts'
import { eventually } from '../helpers/sidecar.ts'

export interface StoreFixture {
  /** A store over fresh, empty state, removed when `t` ends. */
  store: StateStore
  /** The same state seen by another user of it: another replica (Redis) or the proxy in this process (file). */
  peer: StateStore
  /** A new store over the same state, as after a restart; the old one is closed first where only one may write. */
  reopen(): Promise<StateStore>
}

export interface ContractOptions {
  open(t: Test, bounds?: StateStoreBounds): Promise<StoreFixture>
  /** How far past its bound the change stream may run (Redis trims whole stream nodes). */
  changeStreamSlack: number
}

/** Orders offsets of either store: file offsets are integers, Redis ones `ms-seq` stream ids. */
export function compareOffsets(a: string, b: string): number {
  const [am = 0n, as = 0n] = a.split('-').map(BigInt)
  const [bm = 0n, bs = 0n] = b.split('-').map(BigInt)
  return am !== bm ? (am < bm ? -1 : 1) : as === bs ? 0 : as < bs ? -1 : 1
}

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))

function conflict(n: number): ConflictEntry {
  return { key: syncKey('alert-rule', 'acme', `r${n}`), sourceHash: `s${n}`, targetHash: `t${n}`, winner: 'old', decision: 'upsert', at: new Date(n).toISOString() }
}

export function stateStoreContract(t: Test, o: ContractOptions): void {
  t.test('cursors are kept per scope, survive a restart and are forgotten when cleared', async t => {
    const { store, reopen } = await o.open(t)
    t.equal(await store.checkpoints.getCursor('alert-rule/acme'), undefined, 'not started')
    await store.checkpoints.setCursor('alert-rule/acme', 'page-2')
    await store.checkpoints.setCursor('team/acme', 'page-9')
    await store.checkpoints.setCursor('team/acme', undefined)
    const again = await reopen()
    t.equal(await again.checkpoints.getCursor('alert-rule/acme'), 'page-2')
    t.equal(await again.checkpoints.getCursor('team/acme'), undefined)
  })

  t.test('the id map pairs ids both ways, re-pairs, forgets, and survives a restart', async t => {
    const { store, reopen } = await o.open(t)
    const pair = (old: string, neu: string, tenant = 'acme') => ({ resourceType: 'silence', tenant, old, new: neu })
    await store.ids.pair([])
    await store.ids.pair([pair('o1', 'n1'), pair('o2', 'n2'), pair('o1', 'n9', 'globex')])
    await store.ids.pair([pair('o1', 'n1')])
    t.equal(await store.ids.otherId('new', 'silence', 'acme', 'o1'), 'n1')
    t.equal(await store.ids.otherId('old', 'silence', 'acme', 'n2'), 'o2')
    t.equal(await store.ids.otherId('new', 'silence', 'globex', 'o1'), 'n9', 'per tenant')
    // Old's o1 now is new's n3 (new replaced the object): n1 no longer names it.
    await store.ids.pair([pair('o1', 'n3')])
    t.equal(await store.ids.otherId('new', 'silence', 'acme', 'o1'), 'n3')
    t.equal(await store.ids.otherId('old', 'silence', 'acme', 'n1'), undefined)
    // And old's o4 took over n2 from o2.
    await store.ids.pair([pair('o4', 'n2')])
    t.equal(await store.ids.otherId('new', 'silence', 'acme', 'o2'), undefined)
    await store.ids.forget('new', [])
    await store.ids.forget('new', [{ resourceType: 'silence', tenant: 'acme', id: 'n3' }, { resourceType: 'silence', tenant: 'acme', id: 'never-paired' }])
    t.equal(await store.ids.otherId('new', 'silence', 'acme', 'o1'), undefined, 'forgotten both ways')
    t.equal(await store.ids.otherId('old', 'silence', 'acme', 'n3'), undefined)
    await store.ids.forget('old', [{ resourceType: 'silence', tenant: 'acme', id: 'o4' }])
    t.equal(await store.ids.otherId('old', 'silence', 'acme', 'n2'), undefined)
    const again = await reopen()
    t.equal(await again.ids.otherId('new', 'silence', 'globex', 'o1'), 'n9', 'kept across a restart')
  })

  t.test('applied hashes are read and written many keys at a time', async t => {
    const { store, reopen } = await o.open(t)
    const [a, b, c] = ['a', 'b', 'c'].map(id => syncKey('alert-rule', 'acme', id)) as [string, string, string]
    t.same(await store.checkpoints.getApplied([]), new Map(), 'an empty batch')
    await store.checkpoints.setApplied([[a, 'h1'], [b, 'h2'], [c, 'h3']])
    await store.checkpoints.setApplied([[b, undefined], [c, 'h3-old'], [c, 'h3-new']])
    t.same(await store.checkpoints.getApplied([a, b, c]), new Map([[a, 'h1'], [c, 'h3-new']]), 'forgotten keys are absent; the last entry for a key wins')
    const again = await reopen()
    t.same(await again.checkpoints.getApplied([c, a, 'never']), new Map([[c, 'h3-new'], [a, 'h1']]))
  })

  t.test('tombstones keep deletion times many keys at a time', async t => {
    const { store, reopen } = await o.open(t)
    const [a, b] = ['a', 'b'].map(id => syncKey('route', 'acme', id)) as [string, string]
    t.same(await store.checkpoints.getTombstones([]), new Map())
    await store.checkpoints.setTombstones([[a, 1_700_000_000_000], [b, 1_700_000_000_001]])
    await store.checkpoints.setTombstones([[b, undefined]])
    t.same(await store.checkpoints.getTombstones([a, b]), new Map([[a, 1_700_000_000_000]]))
    const again = await reopen()
    t.same(await again.checkpoints.getTombstones([a, b]), new Map([[a, 1_700_000_000_000]]))
  })

  t.test('changes come back oldest first, with rising offsets, from after a given offset', async t => {
    const { store, peer, reopen } = await o.open(t)
    t.same(await store.changes.read('0', 10), [], 'an empty stream')
    await store.changes.append({ resourceType: 'alert-rule', tenant: 'acme', id: 'r1', at: 1 })
    await store.changes.append({ resourceType: 'team', tenant: 'acme', at: 2 })
    await store.changes.append({ resourceType: 'route', tenant: 'globex', id: 'x', at: 3 })
    const all = await peer.changes.read('0', 10)
    t.match(all, [
      { resourceType: 'alert-rule', tenant: 'acme', id: 'r1', at: 1 },
      { resourceType: 'team', tenant: 'acme', at: 2 },
      { resourceType: 'route', tenant: 'globex', id: 'x', at: 3 },
    ])
    t.notOk('id' in all[1]!, 'a collection write has no id')
    const offsets = all.map(c => c.offset)
    t.ok(offsets.every((offset, i) => i === 0 || compareOffsets(offsets[i - 1]!, offset) < 0), `strictly increasing: ${offsets.join(', ')}`)
    t.same(await store.changes.read('0', 2), all.slice(0, 2), 'at most count')
    t.same(await store.changes.read(offsets[0]!, 10), all.slice(1), 'after the offset, excluding it')
    t.same(await store.changes.read(offsets[2]!, 10), [], 'nothing after the newest')
    const again = await reopen()
    t.same(await again.changes.read('0', 10), all, 'the stream survives a restart')
    await again.changes.append({ resourceType: 'team', tenant: 'acme', at: 4 })
    const [next] = await again.changes.read(offsets[2]!, 10)
    t.ok(next && compareOffsets(offsets[2]!, next.offset) < 0, 'offsets keep rising after a restart')
  })

  t.test('a traced write keeps its trace context in the change stream; an untraced one has none', async t => {
    const { store, peer, reopen } = await o.open(t)
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
    await store.changes.append({ resourceType: 'alert-rule', tenant: 'acme', id: 'r1', at: 1, traceparent })
    await store.changes.append({ resourceType: 'alert-rule', tenant: 'acme', id: 'r2', at: 2 })
    const [traced, untraced] = await peer.changes.read('0', 10)
    t.equal(traced!.traceparent, traceparent)
    t.notOk('traceparent' in untraced!, 'a change recorded without one (as every change before tracing) reads back without one')
    t.same(await (await reopen()).changes.read('0', 10), [traced, untraced], 'and survives a restart')
  })

  t.test('the change stream keeps the newest changes within its bound', async t => {
    const limit = 10
    const { store } = await o.open(t, { changeStreamLimit: limit })
    const appended = 250
    await Promise.all(Array.from({ length: appended }, (_, n) => store.changes.append({ resourceType: 'team', tenant: 'acme', id: String(n), at: n })))
    const kept = await store.changes.read('0', appended)
    t.ok(kept.length >= limit && kept.length <= limit + o.changeStreamSlack, `kept ${kept.length} of ${appended}`)
    t.same(kept.map(c => Number(c.id)), Array.from({ length: kept.length }, (_, i) => appended - kept.length + i), 'the newest, in order')
  })

  t.test('the consumed offset starts at the beginning and is shared', async t => {
    const { store, peer, reopen } = await o.open(t)
    t.equal(await store.changes.getOffset(), '0')
    await store.changes.append({ resourceType: 'team', tenant: 'acme', at: 1 })
    const [change] = await store.changes.read('0', 1) as [ChangeEvent]
    await store.changes.setOffset(change.offset)
    t.equal(await peer.changes.getOffset(), change.offset)
    t.equal(await (await reopen()).changes.getOffset(), change.offset)
  })

  t.test('the conflict log lists the newest first and keeps only its bound', async t => {
    const { store, peer, reopen } = await o.open(t, { conflictLogLimit: 3 })
    t.same(await store.conflicts.recent(10), [])
    for (let n = 1; n <= 5; n++) await store.conflicts.append(conflict(n))
    t.same(await peer.conflicts.recent(10), [conflict(5), conflict(4), conflict(3)])
    t.same(await store.conflicts.recent(2), [conflict(5), conflict(4)])
    const withApplied = { ...conflict(6), appliedHash: 'a6', winner: 'new' as const, decision: 'delete' as const }
    await store.conflicts.append(withApplied)
    t.same(await (await reopen()).conflicts.recent(1), [withApplied])
  })

  t.test('one lease holder at a time; renewal keeps the token', async t => {
    const { store, peer } = await o.open(t)
    const first = await store.lease.acquire('replica-a', 5_000)
    t.match(first, { owner: 'replica-a', token: Number })
    t.ok(first!.expiresAt > Date.now() + 4_000 && first!.expiresAt <= Date.now() + 5_000, 'expires after the ttl')
    t.equal(await peer.lease.acquire('replica-b', 5_000), undefined, 'a second owner is refused while it is held')
    const renewed = await store.lease.acquire('replica-a', 5_000)
    t.equal(renewed?.token, first!.token, 'renewal keeps the token')
    t.equal(await peer.lease.holds(first!), true, 'held, as anyone can see')
    t.equal(await store.lease.holds({ ...first!, owner: 'replica-b' }), false, 'not held by another owner')
    t.equal(await store.lease.holds({ ...first!, token: first!.token + 1 }), false, 'not held under another token')
  })

  t.test('after a release or an expiry the next holder gets a higher token and the old one no longer holds it', async t => {
    const { store, peer } = await o.open(t)
    const a = (await store.lease.acquire('replica-a', 5_000))!
    await peer.lease.release({ ...a, owner: 'replica-b' })
    t.equal(await store.lease.holds(a), true, 'releasing a lease one does not hold changes nothing')
    await store.lease.release(a)
    t.equal(await store.lease.holds(a), false, 'released')
    const b = (await peer.lease.acquire('replica-b', 100))!
    t.ok(b.token > a.token, `token ${b.token} after ${a.token}`)
    await sleep(150)
    t.equal(await peer.lease.holds(b), false, 'expired')
    const c = (await store.lease.acquire('replica-a', 5_000))!
    t.ok(c.token > b.token, 'a takeover after expiry raises the token')
    t.equal(await peer.lease.holds(b), false, 'the old holder learns it lost the lease')
    await peer.lease.release(b)
    t.equal(await store.lease.holds(c), true, 'a stale holder releasing does not free the new holder\'s lease')
    const cAgain = (await store.lease.acquire('replica-a', 100))!
    await sleep(150)
    const cNext = (await store.lease.acquire('replica-a', 5_000))!
    t.ok(cNext.token > cAgain.token, 'the same owner returning after its lease expired gets a new token')
  })

  t.test('applied events reach every listener until it unsubscribes', async t => {
    const { store, peer } = await o.open(t)
    const heard: unknown[][] = []
    const stays: unknown[][] = []
    const unsubscribe = await peer.signals.onApplied((...args) => heard.push(args))
    const unsubscribeStays = await peer.signals.onApplied((...args) => stays.push(args))
    t.teardown(unsubscribeStays)
    await store.signals.publishApplied('alert-rule', 'acme', 1_700_000_000_000)
    t.same(await eventually(() => heard, h => h.length === 1), [['alert-rule', 'acme', 1_700_000_000_000]], 'heard by another user of the state')
    await unsubscribe()
    await store.signals.publishApplied('team', 'globex', 5)
    await eventually(() => stays, s => s.length === 2)
    t.same(stays, [['alert-rule', 'acme', 1_700_000_000_000], ['team', 'globex', 5]])
    t.equal(heard.length, 1, 'nothing after unsubscribing')
  })

  t.test('written events reach every listener until it unsubscribes, apart from applied ones', async t => {
    const { store, peer } = await o.open(t)
    const written: unknown[][] = []
    const applied: unknown[][] = []
    const unsubscribe = await peer.signals.onWritten((...args) => written.push(args))
    t.teardown(await peer.signals.onApplied((...args) => applied.push(args)))
    await store.signals.publishWritten('alert-rule', 'acme', 7)
    t.same(await eventually(() => written, w => w.length === 1), [['alert-rule', 'acme', 7]])
    await unsubscribe()
    await store.signals.publishWritten('team', '', 8)
    await store.signals.publishApplied('team', '', 9)
    await eventually(() => applied, a => a.length === 1)
    t.same(written, [['alert-rule', 'acme', 7]], 'nothing after unsubscribing; applied events are another channel')
  })

  t.test('the sync status is seen by another user of the state until it expires', async t => {
    const { store, peer } = await o.open(t)
    t.equal(await peer.signals.readStatus(), undefined, 'nothing published yet')
    await store.signals.publishStatus('{"leader":true}', 5_000)
    t.equal(await peer.signals.readStatus(), '{"leader":true}')
    await store.signals.publishStatus('{"leader":false}', 100)
    t.equal(await peer.signals.readStatus(), '{"leader":false}', 'the newest replaces the last')
    await sleep(150)
    t.equal(await peer.signals.readStatus(), undefined, 'a sync that stopped publishing shows as absent, not stale')
  })
}
