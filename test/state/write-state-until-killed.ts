// Child of the crash-safety test: writes sync state in a tight loop until it is killed.
// Iteration n sets cursor "n" to n, appends change n and records the applied hash of key n, then
// prints n once all three are saved. Padding makes each write long enough to be caught mid-way.
import { FileStateStore } from '../../src/state/file/state-store.ts'

const store = await FileStateStore.open(process.argv[2]!)
let n = Number(await store.checkpoints.getCursor('n') ?? 0)
if (n === 0) await store.checkpoints.setApplied(Array.from({ length: 20_000 }, (_, i) => [`padding-${i}`, 'x'.repeat(40)]))
process.stdout.write(`from ${n}\n`)
for (;;) {
  n++
  await Promise.all([
    store.checkpoints.setCursor('n', String(n)),
    store.changes.append({ resourceType: 'team', tenant: 'acme', id: String(n), at: n }),
    store.checkpoints.setApplied([[`k${n}`, `h${n}`]]),
  ])
  process.stdout.write(`${n}\n`)
}
