// What looks like a credential, for log lines and diff samples alike: header names, values in an
// HTTP authentication scheme (Bearer, Basic, Token, ApiKey...), URLs with userinfo, query strings.

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
 * `text` with every scheme credential and URL userinfo replaced, the scheme kept:
 * "Bearer abc" becomes "Bearer [redacted]", "https://u:p@host" becomes "https://[redacted]@host".
 * Used on whole serialized log lines, so it keeps JSON intact (it never touches `"` or `\`).
 */
export function maskCredentials(text: string): string {
  return text.replace(SCHEME_CREDENTIAL, (_match, scheme: string) => `${scheme} [redacted]`).replace(URL_USERINFO, '://[redacted]@')
}

/**
 * A request target without its query string, which can carry credentials (?access_token=...).
 * @example pathOnly('/api/x?access_token=abc') // '/api/x'
 */
export function pathOnly(url: string): string {
  const q = url.indexOf('?')
  return q === -1 ? url : url.slice(0, q)
}
