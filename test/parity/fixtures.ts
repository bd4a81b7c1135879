// Resources and raw answers for the parity tests: resources go through the policy schema, so
// they carry the same defaults a policy file gives them.
import { policySchema, type PolicyInput, type Resource } from '../../src/policy/schema.ts'
import type { BodyAnswer } from '../../src/parity/compare.ts'

type ResourceInput = Partial<NonNullable<PolicyInput['resources']>[number]>

/** An alert-rule resource with the given compare block (and any other resource keys). */
export function resourceWith(input: ResourceInput = {}): Resource {
  const policy = policySchema.parse({
    version: 1,
    upstreams: { old: { url: 'http://127.0.0.1:8081' }, new: { url: 'http://127.0.0.1:8082' } },
    authority: 'old',
    rules: [{ name: 'default', primary: 'old' }],
    resources: [{ type: 'alert-rule', collection: '/api/v1/tenants/:tenant/alert-rules', item: '/api/v1/tenants/:tenant/alert-rules/:id', ...input }],
  })
  return policy.resources[0]!
}

/** The reference policy's alert-rule rules, as the SPEC shows them. */
export const ALERT_RULE = resourceWith({
  version: '/version',
  compare: {
    ignore: ['/updatedAt'],
    unordered: { '/labels': null, '/receivers': '/name' },
    normalize: { '/for': 'duration' },
    critical: ['/enabled', '/threshold', '/routing/receiver', '/owner', '/escalationPolicyId'],
    redact: ['/config/token'],
  },
})

/** A JSON answer: `doc` serialized (a string is sent as it is). */
export function json(doc: unknown, status = 200): BodyAnswer {
  return { status, body: Buffer.from(typeof doc === 'string' ? doc : JSON.stringify(doc)) }
}

/** A representative alert rule. */
export function alertRule(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: 'r1',
    version: 3,
    name: 'High error rate',
    enabled: true,
    threshold: 0.05,
    for: '5m',
    owner: 'team-checkout',
    escalationPolicyId: 'ep-1',
    routing: { receiver: 'pager', groupBy: ['alertname', 'cluster'] },
    labels: ['checkout', 'prod', 'sev1'],
    receivers: [{ name: 'pager', type: 'pagerduty' }, { name: 'chat', type: 'slack', channel: '#alerts' }],
    config: { token: 'secret-1' },
    updatedAt: '2025-01-01T00:00:00Z',
    ...overrides,
  }
}
