// The sync's model test on stores that assign their own revision on every write, as real stores
// do: the target's revisions never line up with the source's.
import t from 'tap'
import { checkConvergence } from '../helpers/sync-model.ts'

// Five scenarios, each with sync processes started and SIGKILLed: 20-40 s on an idle 2-core
// machine, more under load, so this file gets three times the suite's 60 s.
t.setTimeout(180_000)

t.test('on stores that assign their own revisions, the stores converge whatever the interleaving, replays, reorders and kills', t => checkConvergence(t, { selfVersioning: true }))
