// Model-based: random creates, updates and deletes at the source while the sync runs as a real
// child process; change events are replayed, reordered or lost; the sync is SIGKILLed at random
// points and restarted. In the end both stores must hold the same objects, nothing deleted may
// have come back, no id may appear twice, and `sync --once` must say converged. Run on plain
// stores and on stores that assign their own revision on every write, as real stores do.
import { randomUUID } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { isDeepStrictEqual } from 'node:util'
import fc from 'fast-check'
import type { Test } from 'tap'
import { openStateStore } from '../../src/state/open.ts'
import type { StateStore } from '../../src/state/state-store.ts'
import type { Flavour } from '../../src/reference/flavours.ts'
import { startProcess } from './process.ts'
import { runCli } from './cli.ts'
import { forgetMigration, REDIS_URL } from './redis.ts'
import { captureLog, eventually } from './sidecar.ts'
import { contents, startSyncFixture } from './sync.ts'
import { scratchDir } from './scratch-dir.ts'

const RUNS = Number(process.env['DUALREAD_MODEL_RUNS'] ?? 5)

const op = fc.record({
  kind: fc.constantFrom('put', 'put', 'delete'),
  type: fc.constantFrom('alert-rule' as const, 'team' as const),
  tenant: fc.constantFrom('acme', 'globex'),
  id: fc.constantFrom('k0', 'k1', 'k2', 'k3', 'k4', 'k5'),
  threshold: fc.integer({ min: 0, max: 1000 }),
  /** How the proxy's announcement of the write arrives: once, twice (replayed), or never (lost). */
  event: fc.constantFrom('once', 'once', 'twice', 'lost'),
  /** Deleted and created again between two reads of the sync (a store's revision restarts at 1). */
  recreate: fc.boolean(),
})
type Op = typeof op extends fc.Arbitrary<infer T> ? T : never

const scenario = fc.record({
  segments: fc.array(fc.array(op, { minLength: 3, maxLength: 15 }), { minLength: 2, maxLength: 4 }),
  /** ms the sync runs after each segment before it is killed. */
  killAfter: fc.array(fc.integer({ min: 0, max: 250 }), { minLength: 4, maxLength: 4 }),
  shuffleSeed: fc.integer(),
})

/** The property, on two reference APIs of `flavour`; a fixed seed, so a failure replays. */
export async function checkConvergence(t: Test, flavour: Partial<Flavour>): Promise<void> {
  await fc.assert(fc.asyncProperty(scenario, run(t, flavour)), { numRuns: RUNS, endOnFailure: true, seed: 20261201 })
}

function run(t: Test, flavour: Partial<Flavour>) {
  return async ({ segments, killAfter, shuffleSeed }: typeof scenario extends fc.Arbitrary<infer S> ? S : never) => {
    const dir = scratchDir(t)
    const migration = `model-${randomUUID()}`
    const teardowns: Array<() => unknown> = []
    const local = { teardown: (fn: () => unknown) => { teardowns.push(fn) } }
    const f = await startSyncFixture(local, dir, { old: { flavour }, new: { flavour } })
    f.old.store.addTenant('acme')
    f.old.store.addTenant('globex')
    f.writePolicy({ state: REDIS_URL, migration, sync: '' })
    // Scans run every second, so a lost announcement is still caught.
    writeFileSync(f.policyFile, readFileSync(f.policyFile, 'utf8').replace('fullScanIntervalSec: 3600', 'fullScanIntervalSec: 1'))
    const { log } = captureLog()
    const state: StateStore = await openStateStore(REDIS_URL, migration, log)
    let child: ReturnType<typeof startProcess> | undefined
    try {
      let seed = shuffleSeed
      const random = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff)
      for (const [i, segment] of segments.entries()) {
        child = startProcess(['sync', '--policy', f.policyFile, '--admin', '127.0.0.1:0', '--state-dir', dir], {}, 'dualread sync started')
        await child.listening
        const events: Array<{ resourceType: string, tenant: string, id: string, at: number }> = []
        for (const o of segment) {
          apply(f, o)
          const event = { resourceType: o.type, tenant: o.tenant, id: o.id, at: Date.now() }
          if (o.event !== 'lost') events.push(event)
          if (o.event === 'twice') events.push(event)
        }
        events.sort(() => random() - 0.5) // reordered
        for (const e of events) await state.changes.append(e)
        await new Promise(r => setTimeout(r, killAfter[i % killAfter.length]))
        child.child.kill('SIGKILL')
        await child.exited
      }
      child = startProcess(['sync', '--policy', f.policyFile, '--admin', '127.0.0.1:0', '--state-dir', dir], {}, 'dualread sync started')
      await child.listening
      // Each store's revisions are its own: they are compared only on plain stores.
      const ownVersions = flavour.selfVersioning === true
      const expected = contents(f.old, { withoutVersion: ownVersions })
      const converged = await eventually(() => isDeepStrictEqual(contents(f.new, { withoutVersion: ownVersions }), expected), ok => ok, 15_000)
      if (!converged) {
        t.comment(`did not converge; old ${JSON.stringify(expected)}\nnew ${JSON.stringify(contents(f.new, { withoutVersion: ownVersions }))}\n${child.output().stdout.slice(-3000)}`)
        return false
      }
      child.child.kill('SIGKILL')
      await child.exited
      child = undefined
      const once = await runCli('sync', '--policy', f.policyFile, '--once', '--state-dir', dir)
      if (once.code !== 0 || !/conflicts 0/.test(once.out)) {
        t.comment(`sync --once after convergence: ${once.out}`)
        return false
      }
      // No id twice: list the target's pages through its HTTP API.
      for (const tenant of ['acme', 'globex']) {
        const res = await fetch(`${f.new.url}/api/v1/tenants/${tenant}/alert-rules?limit=1000`)
        const ids = ((await res.json()) as { items: Array<{ id: string }> }).items.map(i => i.id)
        if (new Set(ids).size !== ids.length) return false
      }
      return true
    } finally {
      child?.child.kill('SIGKILL')
      await state.close()
      await forgetMigration(migration)
      for (const fn of teardowns.reverse()) await fn()
    }
  }
}

/** A write at the source, as a client of the old store makes it (its own revision rule applies). */
function apply(f: Awaited<ReturnType<typeof startSyncFixture>>, o: Op): void {
  if (o.kind === 'delete') {
    f.old.store.delete(o.type, o.tenant, o.id)
    return
  }
  if (o.recreate) f.old.store.delete(o.type, o.tenant, o.id)
  f.old.store.put(o.type, o.tenant, o.id, { name: `${o.type} ${o.id}`, enabled: o.threshold % 2 === 0, threshold: o.threshold })
}
