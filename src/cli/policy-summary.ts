// What `dualread policy check` says about a valid policy beyond "ok": each resource's shape (what
// its paths answer, how it is compared and synced) and where each upstream's credentials come from.
import { describeSource } from '../credentials/upstream-headers.ts'
import { SIDES, type Policy } from '../policy/schema.ts'
import { parentsFirst } from '../policy/references.ts'
import { describeShape, isSynced } from '../policy/shape.ts'

/**
 * @example describePolicy(policy) // 'resources:\n  alert-rule: collection + item\n    list: ...\ncredentials:\n  old: none ...'
 */
export function describePolicy(policy: Policy): string {
  const lines: string[] = []
  if (policy.resources.length > 0) lines.push('resources:')
  for (const r of policy.resources) {
    const [shape, ...details] = describeShape(r, policy)
    lines.push(`  ${r.type}: ${shape!}`, ...details.map(d => `    ${d}`))
    const references = Object.entries(r.references)
    if (references.length > 0) lines.push(`    links:  ${references.map(([pointer, type]) => `${pointer} → ${type}`).join(', ')} (a link found on one side only is critical drift)`)
  }
  if (policy.resources.some(r => Object.keys(r.references).length > 0)) {
    lines.push(`sync order: ${parentsFirst(policy.resources).filter(isSynced).map(r => r.type).join(', ')} (parents first; deletions in reverse)`)
  }
  lines.push('credentials (sent by the sync' + (policy.shadow.credentials === 'upstream' ? ' and by shadow reads' : '; shadow reads carry the client\'s own') + '):')
  for (const side of SIDES) {
    const headers = Object.entries(policy.upstreams[side].headers)
    lines.push(`  ${side}: ${headers.length === 0 ? 'none' : headers.map(([name, source]) => `${name.toLowerCase()} from ${describeSource(source)}`).join(', ')}`)
  }
  return `${lines.join('\n')}\n`
}
