// The sync's model test on plain stores (they keep the version a write gives them).
import t from 'tap'
import { checkConvergence } from '../helpers/sync-model.ts'

// Five scenarios, each with sync processes started and SIGKILLed: 20-40 s on an idle 2-core
// machine, more under load, so this file gets three times the suite's 60 s.
t.setTimeout(180_000)

t.test('on plain stores, the stores converge whatever the interleaving, replays, reorders and kills', t => checkConvergence(t, {}))
