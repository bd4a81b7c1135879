import t from 'tap'
import { renderParity, type ParityStatus } from '../../src/cli/parity-table.ts'

const slice = (over: Partial<ParityStatus['parity'][number]>): ParityStatus['parity'][number] => ({
  rule: 'default', resourceType: 'alert-rule', comparisons: 4, matchRate: 0.75,
  results: { match: 3, cosmetic: 1, critical: 0, lag: 0, error: 0 },
  window: { seconds: 300, comparisons: 4, results: { match: 3, cosmetic: 1, critical: 0, lag: 0, error: 0 } },
  readiness: 'inconclusive', readinessReason: '4 of 20', history: [], topPointers: [], noisy: [], samples: [], ...over,
})

t.test('the parity tables show slices, pointers, rules, rollbacks and noise', async t => {
  const out = renderParity({
    parity: [
      slice({ topPointers: [{ pointer: '/description', severity: 'cosmetic', count: 1 }] }),
      slice({ resourceType: 'team', matchRate: 1, results: { match: 4, cosmetic: 0, critical: 0, lag: 0, error: 0 }, noisy: [{ pointer: '/etag', count: 2, suggestion: 'compare: { ignore: [/etag] }   # resource team' }] }),
    ],
    rules: [
      { name: 'acme-on-new', match: { tenants: ['acme'] }, primary: 'new', newPercent: 0, shadowPercent: 100, fallback: false, rolledBack: true, readiness: 'not-ready', readinessReason: '2 critical difference(s)' },
      { name: 'default', match: {}, primary: 'old', newPercent: 0, shadowPercent: 10, fallback: false, rolledBack: false, readiness: 'inconclusive', readinessReason: '4 of 20' },
    ],
  })
  t.match(out, /│ default\s+│ alert-rule\s+│ 4\s+│ 75\.0\s+│ 3\s+│ 1\s+│ 0\s+│ 0\s+│ 0\s+│ inconclusive │ \/description \(cosmetic, 1\) │/)
  t.match(out, /│ team\s+│.*│ 100\.0 .*│ -\s+│/, 'a slice without drift shows "-" for pointers')
  t.match(out, /│ acme-on-new │ new\s+│ 100\s+│ yes\s+│ not-ready/)
  t.match(out, /│ default\s+│ old\s+│ 10\s+│ no\s+│ inconclusive/)
  t.match(out, /noisy pointers \(not drift\):\n  team \/etag differs between two reads of the same side \(2x\): add compare: \{ ignore: \[\/etag\] \}/)
})

t.test('a broken reference shows its reason next to its pointer', async t => {
  const out = renderParity({
    parity: [slice({ topPointers: [{ pointer: '/escalationPolicyId', severity: 'critical', reason: 'broken-reference', count: 2 }] })],
    rules: [],
  })
  t.match(out, '/escalationPolicyId (critical, broken-reference, 2)')
})

t.test('progress bars only on a terminal, never in CI', async t => {
  const { progressBarStream } = await import('../../src/cli/main.ts')
  const tty = { isTTY: true } as NodeJS.WriteStream
  t.equal(progressBarStream(tty, {}), tty)
  t.equal(progressBarStream(tty, { CI: 'true' }), undefined)
  t.equal(progressBarStream({ isTTY: false } as NodeJS.WriteStream, {}), undefined)
})
