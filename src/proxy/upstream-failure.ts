// What the client is told when an upstream could not answer: a status that says what happened
// (504 a timeout, 503 an open breaker or every connection busy, else 502) and words that name the
// side, never an internal address (those stay in the log). For a write, whether it may have been applied.
import { QUEUE_TIMEOUT } from '../connections/budget.ts'
import type { Side } from '../policy/schema.ts'

export interface Failure {
  status: number
  /** A timeout (504): the body's `error` says so. */
  timedOut: boolean
  /** For the client: "the old upstream refused the connection". */
  detail: string
}

type UpstreamError = Error & { code?: string, statusCode?: number, busy?: string }

interface Kind {
  status: number
  words: (timeoutMs: number, err: UpstreamError) => string
  /** Whether the request can have reached the upstream (and so a write have been applied). */
  mayHaveArrived: boolean
}

/** A write the proxy gave up waiting for; it counts as the same failure as a read's headers timeout. */
export const WRITE_TIMEOUT = 'UND_ERR_HEADERS_TIMEOUT'

const KINDS: Record<string, Kind> = {
  UND_ERR_HEADERS_TIMEOUT: { status: 504, words: ms => `did not answer within ${ms} ms`, mayHaveArrived: true },
  UND_ERR_BODY_TIMEOUT: { status: 504, words: ms => `stopped sending its answer for ${ms} ms`, mayHaveArrived: true },
  UND_ERR_CONNECT_TIMEOUT: { status: 504, words: ms => `did not accept the connection within ${ms} ms`, mayHaveArrived: false },
  EOPENBREAKER: { status: 503, words: () => 'is failing: its breaker is open, so calls fail fast until it half-opens', mayHaveArrived: false },
  [QUEUE_TIMEOUT]: { status: 503, words: (_, err) => `had ${err.busy}`, mayHaveArrived: false },
  ECONNREFUSED: { status: 502, words: () => 'refused the connection', mayHaveArrived: false },
  ENOTFOUND: { status: 502, words: () => 'has a host name that does not resolve', mayHaveArrived: false },
  EAI_AGAIN: { status: 502, words: () => 'has a host name that could not be resolved just now', mayHaveArrived: false },
  ECONNRESET: { status: 502, words: () => 'closed the connection before answering', mayHaveArrived: true },
  UND_ERR_SOCKET: { status: 502, words: () => 'closed the connection before answering', mayHaveArrived: true },
  EPIPE: { status: 502, words: () => 'closed the connection before answering', mayHaveArrived: true },
}

/**
 * @example
 * describeFailure('old', Object.assign(new Error('connect ECONNREFUSED 10.0.0.7:8081'), { code: 'ECONNREFUSED' }), { timeoutMs: 2000 })
 * // { status: 502, timedOut: false, detail: 'the old upstream refused the connection' }
 */
export function describeFailure(side: Side, err: UpstreamError, o: { timeoutMs: number, write?: boolean }): Failure {
  const status = err.statusCode
  const kind: Kind = status === undefined
    ? KINDS[String(err.code)] ?? { status: 502, words: () => `failed (${err.code ?? err.name})`, mayHaveArrived: true }
    : { status: 502, words: () => `answered ${status}`, mayHaveArrived: true }
  const said = `the ${side} upstream ${kind.words(o.timeoutMs, err)}`
  const consequence = kind.mayHaveArrived
    ? '; the write may have been applied: read it again before retrying'
    : '; the write was not applied'
  return { status: kind.status, timedOut: kind.status === 504, detail: o.write ? said + consequence : said }
}
