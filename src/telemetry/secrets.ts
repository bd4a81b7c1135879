// What looks like a credential, for log lines and diff samples alike: header names, values in an
// HTTP authentication scheme (Bearer, Basic, Token, ApiKey...), URLs with userinfo, query strings,
// and the values this process itself sends as upstream credentials (known secrets).

/** Header names that carry credentials: authorization, cookie, x-auth, x-api-key, x-session-id... */
export const SECRET_HEADER = /auth|token|secret|key|cookie|session|passw|credential/i

/**
 * A credential in an HTTP authentication scheme: the scheme, whitespace, then a token68-style
 * credential. Linear: only a scheme word starts a match, and its whitespace run is its own.
 */
const SCHEME_CREDENTIAL = /\b(bearer|basic|token|api[-_]?key|digest|negotiate|ntlm|dpop|aws4-hmac-sha256)\s+[\w\-.~+/=:,]+/gi
/** Userinfo after "://": user:pass@ or token@. "/" ends the run, so runs never overlap. */
const URL_USERINFO = /:\/\/[^/?#@\s"]+@/g

/**
 * Whether a string holds a credential in an authentication scheme, such as "Bearer abc".
 * @example looksLikeCredential('Bearer eyJhbGciOi') // true
 */
export function looksLikeCredential(text: string): boolean {
  SCHEME_CREDENTIAL.lastIndex = 0
  return SCHEME_CREDENTIAL.test(text)
}

/**
 * A known secret shorter than this is not looked for in text: a short value ("1", "on") would
 * match harmless text, and masking it inside a JSON line could break the line.
 */
export const MIN_KNOWN_SECRET_LENGTH = 8
/** Upstream credential values this process sends, as written and as they appear inside a JSON string. */
const KNOWN_SECRETS = new Set<string>()
/** The values as remembered, for comparison workers (they mask the same ones in diff samples). */
const REMEMBERED: string[] = []

/**
 * Remembers a credential value this process sends upstream, so that it is masked wherever it
 * turns up: a log line, an error message, a diff sample (an upstream that echoes it back). For
 * "Bearer abc..." the credential after the scheme is remembered too.
 * @example rememberSecret(process.env.NEW_API_TOKEN)
 */
export function rememberSecret(value: string): void {
  if (KNOWN_SECRETS.has(value)) return
  if (value.length >= MIN_KNOWN_SECRET_LENGTH) REMEMBERED.push(value)
  const space = value.indexOf(' ')
  for (const v of space === -1 ? [value] : [value, value.slice(space + 1).trim()]) {
    if (v.length < MIN_KNOWN_SECRET_LENGTH) continue
    KNOWN_SECRETS.add(v)
    KNOWN_SECRETS.add(JSON.stringify(v).slice(1, -1))
  }
}

/** Every value remembered so far (for a worker thread, whose own memory starts empty). */
export function knownSecrets(): readonly string[] {
  return REMEMBERED
}

/** Whether `text` holds a remembered upstream credential. */
export function holdsKnownSecret(text: string): boolean {
  for (const secret of KNOWN_SECRETS) if (text.includes(secret)) return true
  return false
}

/** `text` with every remembered upstream credential replaced by "[redacted]". */
export function maskKnownSecrets(text: string): string {
  let out = text
  for (const secret of KNOWN_SECRETS) if (out.includes(secret)) out = out.replaceAll(secret, '[redacted]')
  return out
}

/**
 * `text` with every scheme credential and URL userinfo replaced, the scheme kept:
 * "Bearer abc" becomes "Bearer [redacted]", "https://u:p@host" becomes "https://[redacted]@host";
 * and remembered upstream credentials replaced whole.
 * Used on whole serialized log lines, so it keeps JSON intact (it never touches `"` or `\`).
 */
export function maskCredentials(text: string): string {
  return maskKnownSecrets(text).replace(SCHEME_CREDENTIAL, (_match, scheme: string) => `${scheme} [redacted]`).replace(URL_USERINFO, '://[redacted]@')
}

/**
 * A request target without its query string, which can carry credentials (?access_token=...).
 * @example pathOnly('/api/x?access_token=abc') // '/api/x'
 */
export function pathOnly(url: string): string {
  const q = url.indexOf('?')
  return q === -1 ? url : url.slice(0, q)
}
