// pino JSON logs on stdout. Credentials never reach a log line: request headers pass through a
// serializer that redacts credential headers by name and credential-looking values, a request
// is logged by its path (query strings can carry tokens), and every line is scrubbed of
// scheme credentials ("Bearer ...") and URL userinfo before it is written, whatever logged it.
import { pino, type Logger, type DestinationStream } from 'pino'
import { looksLikeCredential, maskCredentials, pathOnly, SECRET_HEADER } from './secrets.ts'

export type { Logger }

/** Headers with credentials replaced, safe to log: by name (authorization, x-auth, cookie...) and by value ("Bearer ..."). */
export function safeHeaders(headers: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [name, value] of Object.entries(headers)) {
    out[name] = SECRET_HEADER.test(name) || looksLikeCredential(String(value)) ? '[redacted]' : value
  }
  return out
}

export function createLogger(options: { level?: string, destination?: DestinationStream } = {}): Logger {
  return pino({
    level: options.level ?? process.env['LOG_LEVEL'] ?? 'info',
    base: { name: 'dualread' },
    serializers: {
      req: (req: { method?: string, url?: string, headers?: Record<string, unknown> }) => ({
        method: req.method, path: req.url === undefined ? undefined : pathOnly(req.url), headers: req.headers ? safeHeaders(req.headers) : undefined,
      }),
      headers: safeHeaders,
      err: pino.stdSerializers.err,
    },
    hooks: { streamWrite: maskCredentials },
  }, options.destination)
}
