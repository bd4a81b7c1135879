import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { FileStateStore, STATE_FILE } from '../../src/state/file/state-store.ts'
import type { StateStore, StateStoreBounds } from '../../src/state/state-store.ts'
import { stateStoreContract } from './state-store-contract.ts'
import { scratchDir } from '../helpers/scratch-dir.ts'

async function openFresh(t: Test, bounds?: StateStoreBounds) {
  const dir = scratchDir(t)
  let store: StateStore = await FileStateStore.open(dir, bounds)
  t.teardown(() => store.close())
  return {
    store,
    peer: store,
    async reopen() {
      await store.close()
      store = await FileStateStore.open(dir, bounds)
      return store
    },
  }
}

/** What is on disk now, read without the store. */
function onDisk(dir: string): { cursors: Record<string, string>, changes: Array<{ id?: string }>, leaseToken: number } {
  return JSON.parse(readFileSync(join(dir, STATE_FILE), 'utf8'))
}

t.test('the state store contract, in a file', async t => {
  stateStoreContract(t, { open: openFresh, changeStreamSlack: 0 })
})

t.test('a state file survives kill -9 at random moments: always whole, always a prefix of the writes', async t => {
  const dir = scratchDir(t)
  const writer = join(import.meta.dirname, 'write-state-until-killed.ts')
  let previous = 0
  for (let round = 1; round <= 10; round++) {
    const child = spawn(process.execPath, [writer, dir], { stdio: ['ignore', 'pipe', 'inherit'] })
    const exited = once(child, 'exit')
    let out = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d })
    while (!/^from \d+\n\d+\n/.test(out)) await new Promise(resolve => setTimeout(resolve, 5))
    await new Promise(resolve => setTimeout(resolve, Math.random() * 150))
    child.kill('SIGKILL')
    await exited
    const lines = out.split('\n').slice(0, -1) // the last one may be cut short
    const acked = Number(lines.at(-1)!.replace('from ', ''))

    const saved = onDisk(dir)
    const n = Number(saved.cursors['n'])
    t.ok(n >= acked && n <= acked + 1, `round ${round}: saved ${n}, the writer had been told ${acked} was saved`)
    t.ok(n > previous, `round ${round}: progress kept (${previous} → ${n})`)
    t.same(saved.changes.map(c => Number(c.id)), Array.from({ length: n }, (_, i) => i + 1), 'every change up to it, none after')
    const store = await FileStateStore.open(dir)
    const keys = Array.from({ length: n + 1 }, (_, i) => `k${i + 1}`)
    t.same([...(await store.checkpoints.getApplied(keys)).keys()], keys.slice(0, n), 'every applied hash up to it, none after')
    await store.close()
    previous = n
  }
})

t.test('every mutating call resolves once its own change is on disk, however many share a write', async t => {
  const dir = scratchDir(t)
  const store = await FileStateStore.open(dir)
  const unsaved: number[] = []
  await Promise.all(Array.from({ length: 50 }, async (_, n) => {
    await store.changes.append({ resourceType: 'team', tenant: 'acme', id: String(n), at: n })
    if (!onDisk(dir).changes.some(c => c.id === String(n))) unsaved.push(n)
  }))
  t.same(unsaved, [])
  void store.checkpoints.setCursor('last', 'written while closing')
  await store.close()
  t.equal(onDisk(dir).cursors['last'], 'written while closing', 'close waits for the write in flight')
})

t.test('a state file that cannot be used is an error naming it, never a fresh start', async t => {
  const dir = scratchDir(t, { [STATE_FILE]: '{"format":1,"cursors":{' })
  const file = join(dir, STATE_FILE)
  await t.rejects(FileStateStore.open(dir), { message: `sync state file ${file} is not valid JSON (Expected property name or '}' in JSON at position 23 (line 1 column 24)); move it aside to restart the sync from scratch` })
  writeFileSync(file, JSON.stringify({ format: 1, cursors: [] }))
  await t.rejects(FileStateStore.open(dir), { message: new RegExp(`^sync state file ${file} does not hold dualread sync state:\\n[^]*cursors`) })
  rmSync(file)
  mkdirSync(file)
  await t.rejects(FileStateStore.open(dir), { message: new RegExp(`^cannot read sync state file ${file}: EISDIR`) })
})

t.test('a write that cannot reach the disk rejects, naming the file; the next one saves everything', async t => {
  const dir = scratchDir(t)
  const store = await FileStateStore.open(dir)
  t.teardown(() => store.close())
  rmSync(dir, { recursive: true })
  await t.rejects(store.checkpoints.setCursor('team/acme', 'page-2'), { message: new RegExp(`^cannot save sync state to ${join(dir, STATE_FILE)}: ENOENT`) })
  await t.rejects(store.lease.acquire('sync', 5_000), { message: /^cannot save sync state/ })
  t.equal(await store.lease.holds({ owner: 'sync', token: 1, expiresAt: Date.now() + 5_000 }), false, 'a lease whose token was not saved is not held')
  mkdirSync(dir)
  const lease = await store.lease.acquire('sync', 5_000)
  t.equal(lease?.token, 2, 'and its token is not handed out again')
  t.equal(onDisk(dir).cursors['team/acme'], 'page-2')
})

t.test('a restarted process takes the lease at once, with a higher token', async t => {
  const { store, reopen } = await openFresh(t)
  const before = (await store.lease.acquire('sync-1', 60_000))!
  const after = await (await reopen()).lease.acquire('sync-2', 60_000)
  t.ok(after && after.token > before.token, 'the lease was this process\'s; its token count is saved')
})

t.test('an offset the file store did not hand out is an error, not an empty read', async t => {
  const { store } = await openFresh(t)
  await t.rejects(store.changes.read('1700000000000-0', 10), { message: /change offset "1700000000000-0" is not one of .*state\.json/ })
})

t.test('a change after close is refused, not written: a stopping process leaves its directory alone', async t => {
  const dir = scratchDir(t)
  const store = await FileStateStore.open(dir)
  await store.checkpoints.setCursor('team/acme', 'page-1')
  await store.close()
  await t.rejects(store.checkpoints.setCursor('team/acme', 'page-2'), { message: `the sync state in ${join(dir, STATE_FILE)} is closed; the change was not saved` })
  t.equal(await store.checkpoints.getCursor('team/acme'), 'page-2', 'still readable (in memory)')
  t.equal(onDisk(dir).cursors['team/acme'], 'page-1', 'the file holds what was saved before close')
  rmSync(dir, { recursive: true })
  await t.rejects(store.changes.append({ resourceType: 'team', tenant: 'acme', at: 1 }), /is closed/)
  t.notOk(existsSync(dir), 'nothing recreated the directory')
})
