// Shadow reads of one object where each store assigns its own ids (`naturalKey`): the other
// store knows the object under another id, which the sync's id map names. An object the map
// does not pair is read under the id it was asked for, so the other store's 404 shows it
// missing (critical), as for any object only one side has.
import type { Resource, Side } from '../policy/schema.ts'
import { pathParams } from '../policy/shape.ts'
import type { IdMap } from '../state/id-map.ts'

/**
 * The request path for `side`'s store of a read of `resource`'s item at `path`: the id segment
 * replaced by `side`'s own id of the object. Unchanged when there is nothing to translate.
 * @example await pathForSide(silence, 'tenant', '/api/v2/silence/a1', 'new', ids) // '/api/v2/silence/b7'
 */
export async function pathForSide(resource: Resource, tenantParam: string, path: string, side: Side, ids: Pick<IdMap, 'otherId'> | undefined): Promise<string> {
  if (resource.naturalKey === undefined || ids === undefined) return path
  const query = path.indexOf('?')
  const segments = (query === -1 ? path : path.slice(0, query)).split('/')
  const pattern = resource.item!.split('/')
  // A matched item path has one segment per pattern segment; the last parameter is the id.
  const idAt = pattern.findLastIndex(s => s.startsWith(':'))
  const tenantAt = pattern.findIndex(s => s.startsWith(':') && pathParams(s)[0] === tenantParam)
  const tenant = tenantAt === -1 ? '' : decodeURIComponent(segments[tenantAt]!)
  const other = await ids.otherId(side, resource.type, tenant, decodeURIComponent(segments[idAt]!))
  if (other === undefined) return path
  segments[idAt] = encodeURIComponent(other)
  return segments.join('/') + (query === -1 ? '' : path.slice(query))
}
