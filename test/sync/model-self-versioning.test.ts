// The sync's model test on stores that assign their own revision on every write, as real stores
// do: the target's revisions never line up with the source's.
import t from 'tap'
import { checkConvergence } from '../helpers/sync-model.ts'

t.test('on stores that assign their own revisions, the stores converge whatever the interleaving, replays, reorders and kills', t => checkConvergence(t, { selfVersioning: true }))
