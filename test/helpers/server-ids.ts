// For tests of stores that assign their own ids: a policy around the resources a test declares
// (old and new reference APIs, every read shadowed, sync state in a file), and a store's objects
// by name.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { ReferenceApi, ResourceType } from '../../src/reference/index.ts'

/** Writes `dir`/policy.yaml with `resources` (YAML list items, indented as under `resources:`); returns its path. */
export function writeServerIdsPolicy(dir: string, old: ReferenceApi, neu: ReferenceApi, resources: string, o: { authority?: string, batchSize: number }): string {
  const file = join(dir, 'policy.yaml')
  writeFileSync(file, `version: 1
upstreams:
  old: { url: ${old.url} }
  new: { url: ${neu.url} }
authority: ${o.authority ?? 'old'}
resources:
${resources}rules:
  - name: default
    primary: old
    shadowPercent: 100
shadow: { recheckLagMs: 0 }
sync:
  state: file:${join(dir, 'state')}
  batchSize: ${o.batchSize}
  maxWritesPerSecond: 100000
  tenants: { list: /api/v1/tenants }
`)
  return file
}

/** A store's objects of one type for acme, by name. */
export function byName(api: ReferenceApi, type: ResourceType): Map<string, Record<string, unknown>> {
  const out = new Map<string, Record<string, unknown>>()
  for (const [key, object] of Object.entries(api.store.snapshot())) if (key.startsWith(`${type}/acme/`)) out.set(String(object['name']), object)
  return out
}
