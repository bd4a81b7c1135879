// The headers dualread itself sends to one upstream (upstreams.<side>.headers): on every call of
// the sync, and on shadow reads with `shadow.credentials: upstream`. Values come from the
// environment, from files (re-read when they change: a rotated Secret) or from the policy; they
// leave this module only as request headers. Everything else (descriptions, errors) names the
// source, never the value, and every value is remembered so the logs mask it wherever it shows.
import type { HeaderValue, Side } from '../policy/schema.ts'
import { looksLikeCredential, rememberSecret, SECRET_HEADER } from '../telemetry/secrets.ts'
import { SecretFile, type SecretFileOptions } from './secret-file.ts'

/** A configured header that has no value now: an unset variable, an unreadable file. */
export class CredentialError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'CredentialError'
  }
}

/** The client's own credentials, never sent on with the upstream's. */
const CLIENT_CREDENTIALS: ReadonlySet<string> = new Set(['authorization', 'proxy-authorization', 'cookie'])

interface Entry {
  name: string
  source: HeaderValue
  file: SecretFile | undefined
}

export interface UpstreamHeadersOptions extends SecretFileOptions {
  /** Where `{ env: NAME }` is looked up; default process.env. */
  env?: NodeJS.ProcessEnv
}

/** Where a header's value comes from, in words: "env NEW_API_TOKEN", "file /run/secrets/token", "the policy". */
export function describeSource(source: HeaderValue): string {
  if (typeof source === 'string') return 'the policy (literal)'
  const prefix = source.prefix === undefined ? '' : `, after "${source.prefix.trim()}"`
  return 'env' in source ? `env ${source.env}${prefix}` : `file ${source.file}${prefix}`
}

/** Whether a literal header value should be treated as a secret: by its name or its value. */
export function literalLooksSecret(name: string, value: string): boolean {
  return SECRET_HEADER.test(name) || looksLikeCredential(value)
}

export class UpstreamHeaders {
  readonly side: Side
  #entries: Entry[]
  #env: NodeJS.ProcessEnv
  #last: string | undefined

  constructor(side: Side, headers: Record<string, HeaderValue>, o: UpstreamHeadersOptions = {}) {
    this.side = side
    this.#env = o.env ?? process.env
    this.#entries = Object.entries(headers).map(([name, source]) => ({
      name: name.toLowerCase(),
      source,
      file: typeof source === 'object' && 'file' in source ? new SecretFile(source.file, o) : undefined,
    }))
    for (const { name, source } of this.#entries) {
      if (typeof source === 'string' && literalLooksSecret(name, source)) rememberSecret(source)
    }
  }

  /** Whether the policy configures any header for this side. */
  get configured(): boolean {
    return this.#entries.length > 0
  }

  /** The configured header names, lower-case. */
  get names(): string[] {
    return this.#entries.map(e => e.name)
  }

  /**
   * The headers as they are now. Rejects with a CredentialError naming the key and the source
   * (never a value) when one has no value.
   * @example await new UpstreamHeaders('new', { authorization: { env: 'NEW_API_TOKEN', prefix: 'Bearer ' } }).values()
   */
  async values(fresh = false): Promise<Record<string, string>> {
    const out: Record<string, string> = {}
    for (const entry of this.#entries) out[entry.name] = await this.#value(entry, fresh)
    this.#last = JSON.stringify(out)
    return out
  }

  /**
   * Reads every file again now. Resolves to true when a value changed since the last `values()`:
   * an upstream that refused the credentials may take the new ones (a Secret rotated since).
   */
  async refresh(): Promise<boolean> {
    const before = this.#last
    try {
      await this.values(true)
    } catch {
      return false // the next values() reports it
    }
    return this.#last !== before
  }

  /**
   * A client's request headers with its credentials (authorization, proxy-authorization, cookie,
   * and any header configured here) replaced by this side's configured headers.
   */
  async replaceCredentials(clientHeaders: Record<string, string | string[]>, fresh = false): Promise<Record<string, string | string[]>> {
    const values = await this.values(fresh)
    const out: Record<string, string | string[]> = {}
    for (const [name, value] of Object.entries(clientHeaders)) {
      if (!CLIENT_CREDENTIALS.has(name) && !Object.hasOwn(values, name)) out[name] = value
    }
    return Object.assign(out, values)
  }

  /** "authorization from env NEW_API_TOKEN, x-scope-orgid from the policy (literal)"; "none" without headers. */
  describe(): string {
    if (this.#entries.length === 0) return 'none'
    return this.#entries.map(e => `${e.name} from ${describeSource(e.source)}`).join(', ')
  }

  /** Header name → its source in words, for /status. */
  sources(): Record<string, string> {
    return Object.fromEntries(this.#entries.map(e => [e.name, describeSource(e.source)]))
  }

  async #value(entry: Entry, fresh: boolean): Promise<string> {
    const { name, source } = entry
    if (typeof source === 'string') return source
    const key = `upstreams.${this.side}.headers.${name}`
    let raw: string | undefined
    if ('env' in source) {
      raw = this.#env[source.env]
      if (raw === undefined || raw === '') throw new CredentialError(`${key}: the environment variable ${source.env} is not set`)
    } else {
      try {
        raw = await entry.file!.read(fresh)
      } catch (err) {
        throw new CredentialError(`${key}: cannot read ${source.file} (${String((err as NodeJS.ErrnoException).code)})`)
      }
      if (raw === '') throw new CredentialError(`${key}: ${source.file} is empty`)
    }
    rememberSecret(raw)
    const value = (source.prefix ?? '') + raw
    // undici refuses a header value with a line break; say which key holds it instead.
    if (/[\r\n\0]/.test(value)) throw new CredentialError(`${key}: the value from ${describeSource(source)} holds a line break or NUL`)
    rememberSecret(value)
    return value
  }
}
