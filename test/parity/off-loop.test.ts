// The client's reads never wait for a shadow comparison: a real `dualread proxy` process compares
// two huge compressed lists (megabytes of inflate and JSON.parse) while a burst of client reads
// goes through it. Asserted as an order, not a time: every read of the burst is answered before
// the comparison is recorded. (With the comparison on the proxy's event loop, the burst waits for
// it, and /status, answered from memory, sees it recorded first.)
import t from 'tap'
import { gzipSync } from 'node:zlib'
import { join } from 'node:path'
import { writeFileSync } from 'node:fs'
import { startProcess } from '../helpers/process.ts'
import { scratchDir } from '../helpers/scratch-dir.ts'
import { startPair } from '../helpers/upstream.ts'
import { alertRule } from './fixtures.ts'

const ITEMS = 60_000
const BURST = 20

/** About 25 MB of JSON (under the 32 MiB decode bound), gzipped to well under a megabyte. */
function hugeList(threshold: number): Buffer {
  return gzipSync(JSON.stringify({ items: Array.from({ length: ITEMS }, (_, i) => alertRule({ id: `r${i}`, threshold })) }))
}

t.test('a burst of client reads is answered while a huge shadow pair is being compared', async t => {
  const { oldUp, newUp } = await startPair(t)
  const huge = { old: hugeList(0.05), new: hugeList(0.1) }
  const small = gzipSync(JSON.stringify({ id: 't1', name: 'payments' }))
  for (const [side, up] of [['old', oldUp], ['new', newUp]] as const) {
    up.behaviour = { headers: { 'content-encoding': 'gzip' }, body: (req: { url: string }) => req.url.includes('/alert-rules') ? huge[side] : small }
  }
  const dir = scratchDir(t)
  const policy = join(dir, 'policy.yaml')
  writeFileSync(policy, `version: 1
upstreams:
  old: { url: ${oldUp.url} }
  new: { url: ${newUp.url} }
authority: old
resources:
  - type: alert-rule
    collection: /api/v1/tenants/:tenant/alert-rules
    compare: { critical: [/threshold] }
  - type: team
    collection: /api/v1/tenants/:tenant/teams
    item: /api/v1/tenants/:tenant/teams/:id
rules:
  - name: rules
    match: { resourceTypes: [alert-rule] }
    primary: old
    shadowPercent: 100
  - name: default
    primary: old
shadow: { maxBodyBytes: 8000000, timeoutMs: 5000, recheckLagMs: 0 }
sync: { enabled: false }
`)
  const p = startProcess(['proxy', '--policy', policy, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', dir])
  t.teardown(() => { p.child.kill('SIGKILL') })
  const { proxy, admin } = await p.listening

  const primary = await fetch(`http://${proxy}/api/v1/tenants/acme/alert-rules`)
  t.equal(primary.status, 200)
  await primary.arrayBuffer()
  // The shadow read has reached the new side: its answer is on the way, and its comparison next.
  while (newUp.received.length === 0) await new Promise(r => setTimeout(r, 2))

  const order: string[] = []
  const burst = Array.from({ length: BURST }, async (_, i) => {
    const res = await fetch(`http://${proxy}/api/v1/tenants/acme/teams/t1`)
    t.equal(res.status, 200)
    await res.arrayBuffer()
    order.push(`read ${i}`)
  })
  const recorded = (async () => {
    for (;;) {
      const status = await (await fetch(`http://${admin}/status`)).json() as { parity: Array<{ results: Record<string, number> }> }
      const slice = status.parity[0]
      if (slice) {
        order.push('comparison recorded')
        return slice.results
      }
      await new Promise(r => setTimeout(r, 5))
    }
  })()
  await Promise.all(burst)
  const results = await recorded
  t.same(results, { match: 0, cosmetic: 0, critical: 1, lag: 0, error: 0 }, 'the pair was really parsed and compared (thresholds differ)')
  t.equal(order.indexOf('comparison recorded'), BURST, 'every read of the burst was answered before the comparison was recorded')
})
