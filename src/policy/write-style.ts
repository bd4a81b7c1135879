// How the sync writes one resource's objects the way its API takes them: each of create, update
// and delete as a verb and a path (the object's own item path, or the collection), and where a
// create's answer names the id the store gave the object. Resolved here once from `write:`, so
// the adapter, the applier and `policy check` read the same answer.
import type { ShapeProblem } from './shape.ts'
import type { Resource, WriteStepConfig } from './schema.ts'

export interface WriteStep {
  method: WriteStepConfig['method']
  /** `item`: the object's own path (or the singleton's); `collection`: the list's path, the id (if any) in the body. */
  path: 'item' | 'collection'
  /** Where the answer names the object's id in the store written to (undefined: the answer is not read for one). */
  idFrom: string | undefined
}

export interface WriteStyle {
  create: WriteStep
  update: WriteStep
  /** undefined: the sync never deletes (`write.delete: false`). */
  delete: { method: 'DELETE', path: 'item' } | undefined
  /** Each store names objects itself (`naturalKey`): creates send no id, and objects are paired by natural key. */
  serverIds: boolean
}

/**
 * The resource's write style, defaults filled in: creates and updates are `write.method` to the
 * item path (today's PUT upsert), deletes are DELETE to it. With a natural key, a create to the
 * collection reads the new id at `idFrom`, or at the resource's `id` when the answer is the object.
 * @example writeStyle(silence).create // { method: 'POST', path: 'collection', idFrom: '/silenceID' }
 */
export function writeStyle(resource: Resource): WriteStyle {
  const serverIds = resource.naturalKey !== undefined
  const step = (given: WriteStepConfig | undefined): WriteStep => {
    if (given === undefined) return { method: resource.write.method, path: 'item', idFrom: undefined }
    const idFrom = given.idFrom ?? (serverIds && given.path === 'collection' ? resource.id : undefined)
    return { method: given.method, path: given.path, idFrom }
  }
  const del = resource.write.delete
  return {
    create: step(resource.write.create),
    update: step(resource.write.update),
    delete: del === false ? undefined : { method: 'DELETE', path: 'item' },
    serverIds,
  }
}

/** What makes a resource's write style or natural key impossible (relative to the resource). */
export function writeProblems(resource: Resource): ShapeProblem[] {
  const problems: ShapeProblem[] = []
  const problem = (path: ShapeProblem['path'], message: string, fix: string) => problems.push({ path, message, fix })
  const { create, update } = resource.write
  for (const [name, step] of [['create', create], ['update', update]] as const) {
    if (step === undefined) continue
    if (step.path === 'collection' && resource.collection === undefined) problem(['write', name, 'path'], `${name} goes to the collection, and this resource has no collection path`, 'add collection:, or send it to path: item')
    if (step.idFrom !== undefined && resource.naturalKey === undefined) problem(['write', name, 'idFrom'], 'idFrom reads the id a store gave an object, and without naturalKey the sync pairs objects by id: both stores must use the same ids', 'add naturalKey: with the pointers that identify an object in both stores, or remove idFrom')
  }
  if (resource.naturalKey === undefined) return problems
  if (resource.singleton !== undefined) problem(['naturalKey'], 'a singleton is one document: there is nothing to pair', 'remove naturalKey')
  if (resource.item !== undefined && Object.keys(resource.params).length > 0) problem(['naturalKey'], 'with a natural key, an object is addressed by the id its store gave it: the item path may have only the tenant and the id', 'remove params, or remove naturalKey')
  const ignored = new Set(resource.compare.ignore)
  resource.naturalKey.forEach((p, i) => {
    if (ignored.has(p)) problem(['naturalKey', i], `${p} is ignored by compare, so objects that differ there would still be paired`, `remove ${p} from compare.ignore or from naturalKey`)
    if (p === resource.id) problem(['naturalKey', i], `${p} is the id, which each store assigns on its own`, 'name fields both stores keep as written, such as /name')
  })
  return problems
}

/** The write style in words, for `policy check`: one line per operation. */
export function describeWrites(resource: Resource): string[] {
  const style = writeStyle(resource)
  const what = (step: WriteStep, op: 'create' | 'update') => {
    if (step.path === 'item') return `${step.method} item${op === 'create' && style.serverIds ? ' at the source\'s id' : ''}`
    const id = op === 'create'
      ? style.serverIds ? `no id in the body; the new id is read at ${step.idFrom!} of the answer` : 'the id in the body'
      : `the target's id in the body at ${resource.id}${step.idFrom === undefined ? '' : `; a new id in the answer at ${step.idFrom} is kept`}`
    return `${step.method} collection (${id})`
  }
  const lines = [`create: ${what(style.create, 'create')}`, `update: ${what(style.update, 'update')}`, `delete: ${style.delete ? 'DELETE item' : 'never (write.delete: false)'}`]
  if (style.serverIds) lines.push(`ids: assigned by each store; objects paired by ${resource.naturalKey!.join(' + ')}, the id map kept in sync.state, ${resource.id} not compared`)
  return lines
}
