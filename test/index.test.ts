import t from 'tap'
import * as dualread from '../src/index.ts'

t.test('the package entry point exposes the sidecar and the policy tools', async t => {
  t.same(Object.keys(dualread).sort(), ['chooseBackend', 'compilePolicy', 'createLogger', 'explainRequest', 'formatProblem', 'parsePolicy', 'startProxySidecar', 'startSyncProcess', 'syncOnce'])
})
