// A real OTLP/HTTP trace receiver on an ephemeral loopback port. Exporters are pointed at it with
// OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=http/json: the SDK's own JSON serializer (otlp-transformer's
// JsonTraceSerializer) writes the OTLP/JSON encoding of trace.proto, which JSON.parse decodes;
// the interfaces below name the fields of that encoding the tests read.
import { createServer, type Server } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'

/** OTLP AnyValue, as the JSON encoding writes it. */
export interface AnyValue { stringValue?: string, boolValue?: boolean, intValue?: number | string, doubleValue?: number }
export interface KeyValue { key: string, value: AnyValue }
export interface OtlpLink { traceId: string, spanId: string }
export interface OtlpSpan {
  traceId: string
  spanId: string
  parentSpanId?: string
  name: string
  /** 1 internal, 2 server, 3 client. */
  kind: number
  /** Nanoseconds since the epoch, as a decimal string. */
  startTimeUnixNano: string
  attributes: KeyValue[]
  links: OtlpLink[]
  status: { code: number, message?: string }
}
export interface ExportTraceServiceRequest {
  resourceSpans: Array<{ resource: { attributes: KeyValue[] }, scopeSpans: Array<{ spans: OtlpSpan[] }> }>
}

/** A span with its attributes as a plain record, and the resource it came from. */
export interface ReceivedSpan extends Omit<OtlpSpan, 'attributes'> {
  attributes: Record<string, string | number | boolean | undefined>
  resource: Record<string, string | number | boolean | undefined>
}

export const SPAN_KIND = { internal: 1, server: 2, client: 3 } as const

function plain(attributes: KeyValue[]): Record<string, string | number | boolean | undefined> {
  return Object.fromEntries(attributes.map(({ key, value }) => [key, value.stringValue ?? value.boolValue ?? (value.intValue === undefined ? value.doubleValue : Number(value.intValue))]))
}

export class OtlpReceiver {
  readonly spans: ReceivedSpan[] = []
  /** OTLP/protobuf request bodies, as they arrived (compared with what the SDK's serializer writes). */
  readonly protobuf: Buffer[] = []
  /** Request bodies that were neither (the exporter used another protocol or path). */
  readonly unreadable: string[] = []
  /** Answers to give the next exports, in order (then 200): a status, or 'hang' to never answer. */
  answers: Array<number | 'hang'> = []
  #server: Server
  #sockets = new Set<Socket>()
  #waiters = new Set<() => void>()
  url = ''

  constructor() {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        const answer = this.answers.shift() ?? 200
        if (answer === 'hang') return
        if (answer !== 200) {
          res.writeHead(answer, { 'content-type': 'application/json' }).end('{}')
          return
        }
        this.#take(req.url ?? '', req.headers['content-type'] ?? '', Buffer.concat(chunks))
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
        for (const wake of this.#waiters) wake()
      })
    })
    this.#server.on('connection', s => { this.#sockets.add(s); s.once('close', () => this.#sockets.delete(s)) })
  }

  static async start(t: { teardown(fn: () => unknown): void }): Promise<OtlpReceiver> {
    const r = new OtlpReceiver()
    await new Promise<void>(resolve => r.#server.listen(0, '127.0.0.1', resolve))
    r.url = `http://127.0.0.1:${(r.#server.address() as AddressInfo).port}`
    t.teardown(() => r.close())
    return r
  }

  #take(path: string, contentType: string, body: Buffer): void {
    if (path === '/v1/traces' && contentType === 'application/x-protobuf') {
      this.protobuf.push(body)
      return
    }
    if (path !== '/v1/traces' || !contentType.startsWith('application/json')) {
      this.unreadable.push(`${path} ${contentType}`)
      return
    }
    const request = JSON.parse(body.toString('utf8')) as ExportTraceServiceRequest
    for (const rs of request.resourceSpans) {
      const resource = plain(rs.resource.attributes)
      for (const ss of rs.scopeSpans) for (const span of ss.spans) this.spans.push({ ...span, attributes: plain(span.attributes), resource })
    }
  }

  /** Resolves with the spans once `ready` holds for what has arrived (checked on every arrival); rejects after `timeoutMs`. */
  waitFor(ready: (spans: ReceivedSpan[]) => boolean, timeoutMs = 10_000): Promise<ReceivedSpan[]> {
    if (ready(this.spans)) return Promise.resolve(this.spans)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(wake)
        reject(new Error(`the spans expected did not arrive within ${timeoutMs} ms; arrived: ${this.spans.map(s => s.name).join(', ') || 'none'}`))
      }, timeoutMs)
      const wake = () => {
        if (!ready(this.spans)) return
        clearTimeout(timer)
        this.#waiters.delete(wake)
        resolve(this.spans)
      }
      this.#waiters.add(wake)
    })
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy()
    await new Promise<void>(resolve => this.#server.close(() => resolve()))
  }
}

/** The environment that points a dualread process's traces at `receiver`, exported within a few ms of each span. */
export function tracingEnv(receiver: OtlpReceiver, extra: Record<string, string> = {}): Record<string, string> {
  return {
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json',
    OTEL_BSP_SCHEDULE_DELAY: '20',
    ...extra,
  }
}
