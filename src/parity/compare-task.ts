// What a comparison worker does with one shadow pair: decode both bodies (content-encoding,
// JSON.parse), compare, and explain a difference with secrets redacted. Pure, so it runs the same
// in a worker thread (compare-worker.ts) and in a test. The compare rules arrive once per policy
// generation (ComparePlans), compiled once there, never per comparison.
import { workerData } from 'piscina'
import type { ResourceKind } from '../policy/compile.ts'
import type { Resource } from '../policy/schema.ts'
import { rememberSecret } from '../telemetry/secrets.ts'
import { compareAnswers, compilePlan, isSuccess, type BodyAnswer, type ComparePlan, type Comparison, type DriftResult, type PointerDiff } from './compare.ts'
import { explainDiff, useMaskKey, type ExplainedOperation } from './redact.ts'
import { answersTargets, compileReferences, type LinkTarget, type ReferencePlan } from './references.ts'

/** A generation's compare rules, as plain data a worker can be started with. */
export interface ComparePlans {
  /** Each resource of the policy (its compare, list, id and version pointers are what is used). */
  resources: Resource[]
  /** The mask key of this process's diff samples: the same secret shows the same mask from any worker. */
  maskKey: Uint8Array
  /** Bound on a decompressed body (default 32 MiB). */
  maxDecodedBytes?: number
}

/** A body as it crosses to a worker: bytes whose buffer is transferred, not copied. */
export interface WireAnswer {
  status: number
  body: Uint8Array
  contentEncoding?: string
}

export interface CompareTask {
  resourceType: string
  kind: ResourceKind
  old: WireAnswer
  new: WireAnswer
  /** Explain a difference (a diff sample, redacted); noise learning needs only the pointers. */
  explain: boolean
  /** Upstream credentials this process sends, to be masked in an explained difference. */
  knownSecrets: readonly string[]
}

let inThisWorker: ((task: CompareTask) => CompareOutcome) | undefined

/**
 * What a worker thread runs for each pair: its generation's comparer, built on the first pair from
 * the compare rules the worker was started with (piscina's workerData).
 */
export function compareInWorker(task: CompareTask, plans = workerData as ComparePlans): CompareOutcome {
  inThisWorker ??= comparer(plans)
  return inThisWorker(task)
}

/** A Comparison without the compared documents, plus the redacted diff when asked for. */
export interface CompareOutcome {
  result: DriftResult
  pointers: PointerDiff[]
  versionsDiffer: boolean
  detail?: string
  failedSide?: 'old' | 'new'
  diff?: ExplainedOperation[]
  /**
   * For a resource with `references`, when both answered 2xx and parsed: the objects they name
   * (the shadow stage looks each up on both sides, see reference-check.ts).
   */
  links?: LinkTarget[]
}

/**
 * A comparer for one generation: plans compiled now, once; each task only looks its plan up.
 * @example const compare = comparer({ resources: policy.resources, maskKey }); compare(task)
 */
export function comparer(plans: ComparePlans): (task: CompareTask) => CompareOutcome {
  useMaskKey(plans.maskKey)
  const options = plans.maxDecodedBytes === undefined ? {} : { maxDecodedBytes: plans.maxDecodedBytes }
  const byType = new Map<string, ComparePlan>(plans.resources.map(r => [r.type, compilePlan(r, options)]))
  const references = new Map<string, ReferencePlan | undefined>(plans.resources.map(r => [r.type, compileReferences(r)]))
  return task => {
    const plan = byType.get(task.resourceType)
    if (plan === undefined) return { result: 'error', pointers: [], versionsDiffer: false, detail: `no compare rules for resource type "${task.resourceType}" in this policy generation` }
    const [old, neu] = [asBodyAnswer(task.old), asBodyAnswer(task.new)]
    const out = outcome(plan, compareAnswers(plan, task.kind, old, neu), task)
    const links = references.get(task.resourceType)
    if (links !== undefined && isSuccess(old.status) && isSuccess(neu.status)) {
      const targets = answersTargets(links, task.kind, old, neu, plans.maxDecodedBytes)
      if (targets !== undefined) out.links = targets
    }
    return out
  }
}

function outcome(plan: ComparePlan, c: Comparison, task: CompareTask): CompareOutcome {
  const out: CompareOutcome = { result: c.result, pointers: c.pointers, versionsDiffer: c.versionsDiffer }
  if (c.detail !== undefined) out.detail = c.detail
  if (c.failedSide !== undefined) out.failedSide = c.failedSide
  if (task.explain && c.result !== 'match' && c.old !== undefined && c.new !== undefined) {
    for (const secret of task.knownSecrets) rememberSecret(secret)
    out.diff = explainDiff(plan, c.old, c.new)
  }
  return out
}

/** The bytes as a Buffer without copying them (a transferred body arrives as a plain Uint8Array). */
function asBodyAnswer(a: WireAnswer): BodyAnswer {
  const body = Buffer.from(a.body.buffer, a.body.byteOffset, a.body.byteLength)
  return a.contentEncoding === undefined ? { status: a.status, body } : { status: a.status, body, contentEncoding: a.contentEncoding }
}
