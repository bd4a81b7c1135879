// Step one of the request path: what a request is (read, write, or neither) and which slice it touches.
// `url` is the resolved target (see target.ts): the same path the upstream will be sent.
import type { CompiledPolicy, ResourceMatch } from '../policy/compile.ts'
import type { ReadSlice } from '../policy/choose.ts'
import { methodKind, READ_METHODS } from './methods.ts'

export type Classified =
  | { kind: 'read', slice: ReadSlice, match: ResourceMatch }
  /** A method that changes state: the authority only, then read-your-writes and an announcement to the sync. */
  | { kind: 'write', slice: ReadSlice, match: ResourceMatch }
  /**
   * Streamed to the authority untouched, nothing recorded: the method neither reads nor changes
   * state (OPTIONS, PROPFIND, ...; the slice it addresses is kept for decision headers and metrics),
   * or the path addresses no resource in the policy.
   */
  | { kind: 'passthrough', slice: ReadSlice, match: ResourceMatch }
  | { kind: 'passthrough', slice?: undefined, match?: undefined }

type Headers = Record<string, string | string[] | undefined>

export function isRead(method: string): boolean {
  return READ_METHODS.has(method)
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
  const kind = methodKind(method, url, headers)
  return { kind: kind === 'other' ? 'passthrough' : kind, slice, match }
}

/** The first value of a header or path parameter; an empty one counts as absent. */
function firstValue(value: string | string[] | undefined): string | undefined {
  const v = Array.isArray(value) ? value[0] : value
  return v === '' ? undefined : v
}
