// Objects whose stores each assign their own ids (`naturalKey`): reading an object's id in its
// store, and the body a create or an update sends (no id to a store that assigns one; the
// target's own id in an update).
import type { Resource } from '../policy/schema.ts'
import { parsePointer, setOwn, valueAt } from '../parity/pointer.ts'

/** The id the object's store gave it (at the resource's `id`), or undefined. */
export function storeIdOf(resource: Resource, doc: unknown): string | undefined {
  const id = doc === undefined ? undefined : valueAt(doc, parsePointer(resource.id))
  return typeof id === 'string' || typeof id === 'number' ? String(id) : undefined
}

/**
 * A copy of `doc` with its id set to `id` (the target store's), or left out (undefined: the
 * store will assign one). Only the objects on the way to the id are copied.
 * @example withStoreId(silence, { id: 'a', matchers: [] }, undefined) // { matchers: [] }
 */
export function withStoreId(resource: Resource, doc: unknown, id: string | undefined): unknown {
  const path = parsePointer(resource.id)
  const rewrite = (node: unknown, depth: number): unknown => {
    if (typeof node !== 'object' || node === null || Array.isArray(node)) return node
    const copy: Record<string, unknown> = { ...node as Record<string, unknown> }
    const key = path[depth]!
    if (depth === path.length - 1) {
      if (id === undefined) delete copy[key]
      else setOwn(copy, key, id)
    } else if (Object.hasOwn(copy, key)) {
      setOwn(copy, key, rewrite(copy[key], depth + 1))
    }
    return copy
  }
  return rewrite(doc, 0)
}
