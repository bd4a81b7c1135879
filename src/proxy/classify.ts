// Step one of the request path: what a request is (read, write, or neither) and which slice it touches.
import type { CompiledPolicy, ResourceMatch } from '../policy/compile.ts'
import type { ReadSlice } from '../policy/choose.ts'

export type Classified =
  | { kind: 'read', slice: ReadSlice, match: ResourceMatch }
  | { kind: 'write', slice: ReadSlice, match: ResourceMatch }
  /** The path addresses no resource in the policy: streamed to the authority untouched. */
  | { kind: 'passthrough' }

type Headers = Record<string, string | string[] | undefined>

export function isRead(method: string): boolean {
  return method === 'GET' || method === 'HEAD'
}

export function classify(compiled: CompiledPolicy, method: string, url: string, headers: Headers): Classified {
  const q = url.indexOf('?')
  const path = q === -1 ? url : url.slice(0, q)
  const match = compiled.matchResource(path)
  if (!match) return { kind: 'passthrough' }
  const { identity } = compiled.policy
  const tenant = firstValue(match.params[identity.tenant.pathParam]) ?? firstValue(headers[identity.tenant.header])
  const region = firstValue(headers[identity.region.header]) ?? identity.region.default
  const slice: ReadSlice = { tenant, region, resourceType: match.resource.type }
  return { kind: isRead(method) ? 'read' : 'write', slice, match }
}

/** The first value of a header or path parameter; an empty one counts as absent. */
function firstValue(value: string | string[] | undefined): string | undefined {
  const v = Array.isArray(value) ? value[0] : value
  return v === '' ? undefined : v
}
