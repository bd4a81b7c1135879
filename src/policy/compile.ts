// A validated policy turned into what the request path needs: a path router for resources.
import Router from 'find-my-way'
import type { Policy, Resource } from './schema.ts'
import { routesOf, shapeOf, type ResourceKind, type ResourceShape } from './shape.ts'

export type { ResourceKind, ResourceShape }

export interface ResourceMatch {
  resource: Resource
  /** Which of the resource's paths the request addressed. */
  kind: ResourceKind
  shape: ResourceShape
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
    for (const { kind, pattern } of routesOf(resource)) router.on('GET', pattern, NO_HANDLER, { resource, kind })
  }
  return {
    policy,
    hash,
    matchResource(path) {
      const found = router.find('GET', path)
      if (!found) return undefined
      const store = found.store as { resource: Resource, kind: ResourceKind }
      return { resource: store.resource, kind: store.kind, shape: shapeOf(store.resource), params: found.params }
    },
  }
}
