// A validated policy turned into what the request path needs: a path router for resources.
import Router from 'find-my-way'
import type { Policy, Resource } from './schema.ts'

export type ResourceKind = 'collection' | 'item'

export interface ResourceMatch {
  resource: Resource
  kind: ResourceKind
  params: Record<string, string | undefined>
}

export interface CompiledPolicy {
  readonly policy: Policy
  /** sha256 prefix of the file text this policy came from. */
  readonly hash: string
  /** Which resource a request path (without query string) addresses, if any. */
  matchResource(path: string): ResourceMatch | undefined
}

/** How request paths meet resource patterns. Validation builds the same router, so a valid policy always compiles. */
export const ROUTER_OPTIONS = { ignoreTrailingSlash: true, caseSensitive: true }

/** find-my-way insists on a handler, but only find() and the route's store are used: a built-in no-op. */
export const NO_HANDLER = Function.prototype as () => void

export function compilePolicy(policy: Policy, hash: string): CompiledPolicy {
  const router = Router(ROUTER_OPTIONS)
  for (const resource of policy.resources) {
    for (const kind of ['collection', 'item'] as const) {
      router.on('GET', resource[kind], NO_HANDLER, { resource, kind })
    }
  }
  return {
    policy,
    hash,
    matchResource(path) {
      const found = router.find('GET', path)
      if (!found) return undefined
      const store = found.store as { resource: Resource, kind: ResourceKind }
      return { resource: store.resource, kind: store.kind, params: found.params }
    },
  }
}
