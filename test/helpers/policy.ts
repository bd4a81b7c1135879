// Policy files for tests, written as YAML into a test's own directory.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'

export interface PolicyParts {
  oldUrl: string
  newUrl: string
  authority?: 'old' | 'new'
  rules?: string
  extra?: string
  breaker?: string
  timeoutMs?: number
  /** More keys inside each upstream's mapping, e.g. `connections: 2, queueTimeoutMs: 100`. */
  upstreamKeys?: Partial<Record<'old' | 'new', string>>
}

export const THREE_RULES = `
  - name: acme-on-new
    match: { tenants: [acme], resourceTypes: [alert-rule] }
    primary: new
    fallback: true
  - name: eu-canary
    match: { regions: [eu-west-1] }
    primary: old
    newPercent: 50
    fallback: true
  - name: default
    primary: old
    fallback: true
`

export function policyYaml(p: PolicyParts): string {
  return `version: 1
upstreams:
  old: { url: ${p.oldUrl}, timeoutMs: ${p.timeoutMs ?? 2000}${p.upstreamKeys?.old ? `, ${p.upstreamKeys.old}` : ''} }
  new: { url: ${p.newUrl}, timeoutMs: ${p.timeoutMs ?? 2000}${p.upstreamKeys?.new ? `, ${p.upstreamKeys.new}` : ''} }
breaker: ${p.breaker ?? '{ errorThresholdPercentage: 50, volumeThreshold: 10, resetTimeoutMs: 10000 }'}
authority: ${p.authority ?? 'old'}
resources:
  - type: alert-rule
    collection: /api/v1/tenants/:tenant/alert-rules
    item: /api/v1/tenants/:tenant/alert-rules/:id
  - type: team
    collection: /api/v1/teams
    item: /api/v1/teams/:id
rules:${p.rules ?? THREE_RULES}
${p.extra ?? ''}
`
}

export function writePolicy(dir: string, p: PolicyParts, name = 'policy.yaml'): string {
  const file = join(dir, name)
  writeFileSync(file, policyYaml(p))
  return file
}
