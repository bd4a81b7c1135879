// The sync's model test on plain stores (they keep the version a write gives them).
import t from 'tap'
import { checkConvergence } from '../helpers/sync-model.ts'

t.test('on plain stores, the stores converge whatever the interleaving, replays, reorders and kills', t => checkConvergence(t, {}))
