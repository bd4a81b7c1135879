// In-process cost of one shadow comparison (parse, prepare, canonicalize; diff when they differ),
// for alert-rule documents of a given size. Equal documents are semantically equal but not
// byte-identical (keys and receivers in another order), so the full path runs, not the fast path.
import { compareAnswers, compilePlan, type BodyAnswer } from '../src/parity/compare.ts'
import { policySchema } from '../src/policy/schema.ts'

const MIN_ITERATIONS = 200
const TARGET_MS = 400

const resource = policySchema.parse({
  version: 1, authority: 'old',
  upstreams: { old: { url: 'http://127.0.0.1:1' }, new: { url: 'http://127.0.0.1:2' } },
  resources: [{
    type: 'alert-rule', collection: '/r', item: '/r/:id', version: '/version',
    compare: {
      ignore: ['/updatedAt'], unordered: { '/labels': null, '/receivers': '/name' }, normalize: { '/for': 'duration' },
      critical: ['/enabled', '/threshold', '/routing/receiver', '/owner', '/escalationPolicyId'],
    },
  }],
  rules: [{ name: 'default', primary: 'old' }],
}).resources[0]!
const plan = compilePlan(resource)

/** An alert rule of about `bytes` bytes, grown by receivers and labels as real rules grow. */
function alertRule(bytes: number, variant: 'a' | 'b'): Record<string, unknown> {
  const rule: Record<string, unknown> = {
    id: 'r1', version: 7, enabled: true, threshold: 0.05, for: variant === 'a' ? '10m' : '600s', owner: 'team-payments',
    escalationPolicyId: 'ep-1', routing: { receiver: 'pagerduty-payments', groupBy: ['alertname', 'service'] },
    expr: 'sum(rate(http_requests_total{status=~"5.."}[5m])) / sum(rate(http_requests_total[5m])) > 0.05',
    labels: [] as string[], receivers: [] as Array<Record<string, unknown>>, updatedAt: variant === 'a' ? '2026-01-01' : '2026-02-02',
  }
  for (let i = 0; JSON.stringify(rule).length < bytes; i++) {
    (rule['labels'] as string[]).push(`label-${i}`);
    (rule['receivers'] as Array<Record<string, unknown>>).push({ name: `receiver-${i}`, type: 'webhook', url: `https://hooks.example.com/${i}`, sendResolved: i % 2 === 0 })
  }
  if (variant === 'b') {
    (rule['labels'] as string[]).reverse();
    (rule['receivers'] as unknown[]).reverse()
    return Object.fromEntries(Object.entries(rule).reverse()) // another key order
  }
  return rule
}

function answer(doc: unknown): BodyAnswer {
  return { status: 200, body: Buffer.from(JSON.stringify(doc)) }
}

function timeIt(run: () => unknown): number {
  for (let i = 0; i < 50; i++) run()
  let n = 0
  const started = performance.now()
  while (n < MIN_ITERATIONS || performance.now() - started < TARGET_MS) { run(); n++ }
  return (performance.now() - started) * 1000 / n
}

/**
 * `floorUs`: two JSON.parse calls of the same bytes (what any comparison must at least do), timed
 * in the same run; `equalRatio` and `differingRatio` are the comparisons over it.
 */
export interface CompareCost { kb: number, equalUs: number, differingUs: number, differingResult: string, floorUs: number, equalRatio: number, differingRatio: number }

/** µs per comparison (what a comparison worker does per pair) for equal and for differing documents of 1, 10 and 100 KB. */
export function measureCompareCost(sizesKb: number[]): CompareCost[] {
  return sizesKb.map(kb => {
    const a = answer(alertRule(kb * 1024, 'a'))
    const equal = answer(alertRule(kb * 1024, 'b'))
    const changed = alertRule(kb * 1024, 'b')
    changed['enabled'] = false
    const receivers = changed['receivers'] as Array<Record<string, unknown>>
    receivers[0]!['type'] = 'email'
    const differing = answer(changed)
    const check = compareAnswers(plan, 'item', a, equal)
    if (check.result !== 'match') throw new Error(`bench documents of ${kb} KB should match, got ${check.result}`)
    const twoParses = () => [JSON.parse(a.body.toString('utf8')), JSON.parse(equal.body.toString('utf8'))]
    // The floor on either side of the comparisons, so a noisy moment is shared.
    const floorBefore = timeIt(twoParses)
    const equalUs = timeIt(() => compareAnswers(plan, 'item', a, equal))
    const differingUs = timeIt(() => compareAnswers(plan, 'item', a, differing))
    const floorUs = Math.min(floorBefore, timeIt(twoParses))
    return {
      kb, equalUs, differingUs, floorUs,
      differingResult: compareAnswers(plan, 'item', a, differing).result,
      equalRatio: equalUs / floorUs,
      differingRatio: differingUs / floorUs,
    }
  })
}
