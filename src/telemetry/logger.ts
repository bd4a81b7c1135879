// pino JSON logs on stdout. Credentials never reach a log line: request headers pass through
// a serializer that drops authorization, cookie and API-key style headers by name.
import { pino, type Logger, type DestinationStream } from 'pino'

const SECRET_HEADER = /^(authorization|proxy-authorization|cookie|set-cookie)$|api[-_]?key|token|secret|password/i

export type { Logger }

/** Headers with credentials replaced, safe to log. */
export function safeHeaders(headers: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [name, value] of Object.entries(headers)) out[name] = SECRET_HEADER.test(name) ? '[redacted]' : value
  return out
}

export function createLogger(options: { level?: string, destination?: DestinationStream } = {}): Logger {
  return pino({
    level: options.level ?? process.env['LOG_LEVEL'] ?? 'info',
    base: { name: 'dualread' },
    serializers: {
      req: (req: { method?: string, url?: string, headers?: Record<string, unknown> }) => ({
        method: req.method, url: req.url, headers: req.headers ? safeHeaders(req.headers) : undefined,
      }),
      headers: safeHeaders,
      err: pino.stdSerializers.err,
    },
  }, options.destination)
}
