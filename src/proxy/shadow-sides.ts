// How the shadow stage reads a side (parity/stage.ts SideReader), built on this generation's
// upstreams: the side's shadow breaker, shadow.timeoutMs, a body up to shadow.maxBodyBytes, and
// with `shadow.credentials: upstream` the side's own credentials instead of the client's (read
// again once when refused and a credential file has changed since: a rotated Secret; `ms` is then
// the latency of the read that answered). Transport failures become parity's words for them.
import { QUEUE_TIMEOUT } from '../connections/budget.ts'
import { BodyCollector } from '../parity/capture.ts'
import { ShadowReadSkipped, type ShadowRequest, type SideReader, type TimedAnswer } from '../parity/stage.ts'
import type { Policy, Side } from '../policy/schema.ts'
import type { UpstreamPair } from './upstream.ts'

const SKIPPED: Record<string, ShadowReadSkipped['reason']> = {
  BODY_TOO_LARGE: 'body_too_large',
  [QUEUE_TIMEOUT]: 'connections_busy',
  EOPENBREAKER: 'breaker_open',
}

export class UpstreamSideReader implements SideReader {
  #upstreams: UpstreamPair
  #shadow: Policy['shadow']

  constructor(upstreams: UpstreamPair, shadow: Policy['shadow']) {
    this.#upstreams = upstreams
    this.#shadow = shadow
  }

  store(side: Side): string {
    return this.#upstreams.get(side).config.url
  }

  async read(side: Side, request: ShadowRequest): Promise<TimedAnswer> {
    try {
      return await this.#read(side, request)
    } catch (err) {
      const reason = SKIPPED[String((err as NodeJS.ErrnoException).code)]
      throw reason ? new ShadowReadSkipped(reason, err as Error) : err
    }
  }

  async #read(side: Side, request: ShadowRequest): Promise<TimedAnswer> {
    const shadow = this.#shadow
    const upstream = this.#upstreams.get(side)
    const own = shadow.credentials === 'upstream'
    for (let fresh = false; ; fresh = true) {
      const headers = own ? await upstream.credentials.replaceCredentials(request.headers, fresh) : request.headers
      const started = performance.now()
      const collector = new BodyCollector(shadow.maxBodyBytes)
      let contentEncoding: string | undefined
      const status = await upstream.read('shadow', { ...request, headers, timeoutMs: shadow.timeoutMs }, (_status, headers) => {
        contentEncoding = headers['content-encoding']
        return collector
      })
      if (own && !fresh && (status === 401 || status === 403) && await upstream.credentials.refresh()) continue
      return { status, body: collector.body(), ms: performance.now() - started, ...(contentEncoding ? { contentEncoding } : {}) }
    }
  }
}
