// `dualread policy explain`: the routing decision for one request, step by step, in words.
import { chooseBackend, otherSide, ruleMatches } from '../policy/choose.ts'
import type { CompiledPolicy } from '../policy/compile.ts'
import { classify } from '../proxy/classify.ts'
import { resolveTarget } from '../proxy/target.ts'
import { describeSource } from '../credentials/upstream-headers.ts'
import type { ResourceMatch } from '../policy/compile.ts'
import type { Policy, Side } from '../policy/schema.ts'
import { pairingPointers } from '../policy/shape.ts'

export interface ExplainRequest {
  method: string
  path: string
  headers: Record<string, string>
}

/**
 * @example
 * explainRequest(compiled, { method: 'GET', path: '/api/v1/tenants/acme/alert-rules', headers: {} }).join('\n')
 */
export function explainRequest(compiled: CompiledPolicy, req: ExplainRequest): string[] {
  const { policy } = compiled
  const method = req.method.toUpperCase()
  const target = resolveTarget(req.path)
  if (!target.ok) return [`request:   ${method} ${req.path}`, `refused:   400 bad_request: ${target.detail}`]
  const c = classify(compiled, method, target.url, req.headers)
  const out = [`request:   ${method} ${req.path}${target.url === req.path ? '' : ` (resolves to ${target.url}, which is what the upstream is sent)`}`]
  if (!c.slice) {
    out.push('resource:  none (the path matches no collection or item pattern)')
    out.push(`served by: ${policy.authority} (the authority), streamed untouched; reason: passthrough`)
    out.push('shadow:    never for unmatched paths')
    return out
  }
  const { slice, match } = c
  out.push(`resource:  ${match.resource.type} (${match.kind} ${match.resource[match.kind]})`)
  out.push(`shape:     ${explainShape(match)}`)
  out.push(`tenant:    ${slice.tenant ?? '(none: no path parameter or header)'}`)
  out.push(`region:    ${slice.region}${req.headers[policy.identity.region.header] ? '' : ' (default)'}`)
  if (c.kind === 'passthrough') {
    out.push(`served by: ${policy.authority} (the authority), streamed untouched; reason: passthrough`)
    out.push(`           ${method} neither reads nor changes state: no read-your-writes, nothing announced to the sync`)
    return out
  }
  if (c.kind === 'write') {
    out.push(`served by: ${policy.authority} (the authority); reason: write`)
    out.push(`           ${otherSide(policy.authority)} never sees writes; reads of ${slice.tenant ?? 'this tenant'}/${slice.resourceType} then go to ${policy.authority} for ${policy.readYourWrites.windowMs} ms (read-your-writes)`)
    return out
  }
  for (const rule of policy.rules) {
    if (ruleMatches(rule, slice)) break
    out.push(`skipped:   rule "${rule.name}" (match ${JSON.stringify(rule.match)})`)
  }
  const d = chooseBackend(policy, slice)
  out.push(`rule:      "${d.rule.name}"${Object.keys(d.rule.match).length === 0 ? ' (catch-all)' : ` (match ${JSON.stringify(d.rule.match)})`}`)
  const why = d.reason === 'percent'
    ? `tenant is inside the sticky newPercent ${d.rule.newPercent}% share`
    : d.rule.newPercent > 0 ? `primary; tenant is outside the sticky newPercent ${d.rule.newPercent}% share` : 'primary'
  out.push(`served by: ${d.serve}; reason: ${d.reason} (${why})`)
  out.push(`shadow:    ${d.rule.shadowPercent}% of these reads are also sent to ${otherSide(d.serve)} and compared`)
  if (d.rule.shadowPercent > 0 && policy.shadow.credentials === 'upstream') out.push(`           ${shadowCredentials(policy, otherSide(d.serve))}`)
  out.push(`fallback:  ${d.rule.fallback ? `on error, timeout, 5xx or open breaker, ${otherSide(d.serve)} serves` : 'off: errors from the serving side reach the client'}`)
  out.push(`overrides: a rollback of "${d.rule.name}" or a recent write through the proxy would send it to ${policy.authority} instead`)
  return out
}

/** Which shape the matched path belongs to, and how its answers are compared. */
function explainShape(match: ResourceMatch): string {
  const { resource, kind } = match
  const items = resource.list.items === '' ? 'the answer is the array itself' : `items at ${resource.list.items}`
  const byKey = `matched by ${pairingPointers(resource).join(' + ')}${resource.naturalKey ? ` (natural key; ${resource.id} not compared)` : ''}`
  switch (match.shape) {
    case 'singleton':
      return 'singleton: one document, compared whole'
    case 'collection':
      return `collection without an item path: a list (${items}), compared as a set of items ${byKey}`
    default:
      return kind === 'collection'
        ? `collection + item: the list (${items}), compared as a set of items ${byKey}`
        : `collection + item: one object, compared whole${resource.naturalKey ? `; the shadow read asks the other store for its own id of the object (the sync's id map), and ${resource.id} is not compared` : ''}`
  }
}

/** What a shadow read carries with `shadow.credentials: upstream`: header names and sources, never values. */
function shadowCredentials(policy: Policy, side: Side): string {
  const headers = Object.entries(policy.upstreams[side].headers)
  if (headers.length === 0) return `shadow reads carry no credentials (shadow.credentials: upstream, and upstreams.${side}.headers is empty)`
  return `shadow reads carry upstreams.${side}.headers instead of the client's credentials: ${headers.map(([name, source]) => `${name.toLowerCase()} from ${describeSource(source)}`).join(', ')}`
}
