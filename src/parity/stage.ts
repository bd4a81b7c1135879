// The shadow stage as the stages before it see it: the proxy hands over a finished read (the
// client has its answer) and a way to read either side; parity decides the rest. Defined here, so
// parity never imports the proxy: the read path's layers only ever import downwards.
import type { Context } from '@opentelemetry/api'
import type { Reason } from '../policy/choose.ts'
import type { CompiledPolicy, ResourceKind } from '../policy/compile.ts'
import type { Rule, Side } from '../policy/schema.ts'
import type { BodyAnswer } from './decode.ts'

/** The read as the upstream was sent it. */
export interface ShadowRequest {
  path: string
  method: 'GET' | 'HEAD'
  headers: Record<string, string | string[]>
  /** The request's span, while tracing: the shadow read is its child. */
  trace?: Context
}

export type TimedAnswer = BodyAnswer & { ms: number }

/**
 * One bounded read of a side for comparison (its shadow breaker, shadow.timeoutMs, a body up to
 * shadow.maxBodyBytes, the credentials shadow.credentials says). Rejects with ShadowReadSkipped
 * when there is no answer to compare for a reason that is not the side failing.
 */
export interface SideReader {
  read(side: Side, request: ShadowRequest): Promise<TimedAnswer>
  /** Identifies the side's store (its URL), for what is cached per store: a reload may point a side elsewhere. */
  store(side: Side): string
}

/** Why a shadow read gave nothing to compare: the body was too large, no connection was free, or the side's shadow breaker is open. */
export class ShadowReadSkipped extends Error {
  readonly reason: 'body_too_large' | 'connections_busy' | 'breaker_open'
  constructor(reason: ShadowReadSkipped['reason'], cause: Error) {
    super(cause.message, { cause })
    this.name = 'ShadowReadSkipped'
    this.reason = reason
  }
}

/** A read whose answer the client has: everything the shadow stage needs, and nothing of the client's connection. */
export interface FinishedRead {
  /** The generation the read was served under: its compare rules and shadow bounds apply. */
  compiled: CompiledPolicy
  /** How this generation reads a side for comparison. */
  sides: SideReader
  rule: Rule
  resourceType: string
  kind: ResourceKind
  request: ShadowRequest
  servedBy: Side
  reason: Reason
  /** The primary answer as the client got it (body bytes captured while they streamed). */
  primary: BodyAnswer
  /** How long the primary answer took, whole body included (ms). */
  primaryMs: number
  /** The read's tenant (path, then header): where the objects it references are looked up. */
  tenant?: string | undefined
}

/**
 * Why a sampled read was not compared; `no_body`: a HEAD, or a GET both of whose answers had no
 * body (204, 304); `connections_busy`: no read connection to the shadow side was free (a shadow
 * read never waits for one, so it never takes one from a client's read).
 */
export type SkipReason = 'max_in_flight' | 'body_too_large' | 'breaker_open' | 'primary_failed' | 'no_body' | 'connections_busy'

/** What the serving stage calls: admit before the answer streams, then launch or skip. */
export interface ShadowStage {
  /** Whether this read is shadowed (sampled, and a slot is free). An admitted read must end in `launch` or `skip`. */
  admit(rule: Rule, maxInFlight: number): boolean
  /** Gives back an admitted slot; a primary that failed counts against its side. */
  skip(reason: SkipReason, failed?: { rule: string, resourceType: string, side: Side }): void
  /** Compares in the background; never rejects, never delays the client. */
  launch(read: FinishedRead): void
}
