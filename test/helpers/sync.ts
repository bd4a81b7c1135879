// Sync-loop test fixtures: two reference APIs, a policy for them, and equality of their contents.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { startReferenceApi, type ReferenceApi, type ReferenceApiOptions } from '../../src/reference/index.ts'
import { startSyncProcess } from '../../src/sidecar/sync-process.ts'
import { openStateStore } from '../../src/state/open.ts'
import { captureLog, startTestSidecar } from './sidecar.ts'

export interface SyncFixture {
  old: ReferenceApi
  new: ReferenceApi
  dir: string
  policyFile: string
  writePolicy(extra?: { authority?: 'old' | 'new', state?: string, sync?: string, migration?: string }): string
}

interface Teardown { teardown(fn: () => unknown): void }

export async function startSyncFixture(t: Teardown, dir: string, o: { old?: ReferenceApiOptions, new?: ReferenceApiOptions } = {}): Promise<SyncFixture> {
  const old = await startReferenceApi(o.old)
  const neu = await startReferenceApi(o.new)
  t.teardown(() => Promise.all([old.close(), neu.close()]))
  const policyFile = join(dir, 'policy.yaml')
  const fixture: SyncFixture = {
    old, new: neu, dir, policyFile,
    writePolicy(extra = {}) {
      writeFileSync(policyFile, `version: 1
migration: ${extra.migration ?? 'default'}
upstreams:
  old: { url: ${old.url} }
  new: { url: ${neu.url} }
authority: ${extra.authority ?? 'old'}
resources:
  - type: alert-rule
    collection: /api/v1/tenants/:tenant/alert-rules
    item: /api/v1/tenants/:tenant/alert-rules/:id
    version: /version
    compare: { ignore: [/updatedAt], critical: [/enabled, /threshold] }
  - type: team
    collection: /api/v1/tenants/:tenant/teams
    item: /api/v1/tenants/:tenant/teams/:id
    version: /version
    compare: { ignore: [/updatedAt] }
rules:
  - name: default
    primary: old
sync:
  state: ${extra.state ?? `file:${join(dir, 'state')}`}
  batchSize: 25
  concurrency: 4
  maxWritesPerSecond: 100000
  fullScanIntervalSec: 3600
  leaseTtlMs: 1500
  tenants: { list: /api/v1/tenants }
${extra.sync ?? ''}
`)
      return policyFile
    },
  }
  fixture.writePolicy()
  return fixture
}

const SYNCED_TYPES = new Set(['alert-rule', 'team'])

/**
 * The synced objects of a store, without what the sync does not carry over (updatedAt, and the
 * version on stores that assign their own).
 */
export function contents(api: ReferenceApi, o: { withoutVersion?: boolean } = {}): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [key, object] of Object.entries(api.store.snapshot())) {
    if (!SYNCED_TYPES.has(key.split('/')[0]!)) continue
    const { updatedAt: _ignored, version, ...rest } = object
    out[key] = o.withoutVersion === true ? rest : { ...rest, version }
  }
  return out
}

/**
 * The embedded arrangement: a proxy and a sync process sharing one file state store.
 * `stop()` stops both and lets the store's last write land (before the test directory goes).
 */
export async function startEmbedded(t: Teardown, f: SyncFixture) {
  const { log } = captureLog()
  const state = await openStateStore(`file:${join(f.dir, 'state')}`, 'default', log)
  t.teardown(() => state.close())
  const sync = await startSyncProcess({ policyFile: f.policyFile, stateDir: f.dir, log, admin: '127.0.0.1:0', state })
  t.teardown(() => sync.stop())
  const proxy = await startTestSidecar(t, { policyFile: f.policyFile, stateDir: join(f.dir, 'proxy'), changeStore: state })
  return {
    state, sync, proxy,
    async stop() {
      await proxy.stop()
      await sync.stop()
      await state.close()
    },
  }
}
