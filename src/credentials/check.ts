// What `policy check` (and every policy load) says about upstreams.<side>.headers: names that
// cannot be sent, literal credentials in the file, and sources that give no value here.
import { accessSync, constants } from 'node:fs'
import type { KeyPath } from '../policy/problems.ts'
import type { SemanticProblem } from '../policy/semantic.ts'
import { SIDES, type Policy } from '../policy/schema.ts'
import { HOP_BY_HOP } from '../proxy/headers.ts'
import { describeSource, literalLooksSecret } from './upstream-headers.ts'

/** Headers the HTTP client sets itself, per request: a configured value would fight it. */
const SET_PER_REQUEST: ReadonlySet<string> = new Set(['host', 'content-length', 'content-type', 'expect', 'if-match', 'if-none-match'])

/** How the environment is looked at: injectable, so the check itself is testable. */
export interface CredentialProbe {
  env: NodeJS.ProcessEnv
  /** Undefined when `path` is readable, or why not (ENOENT, EACCES...). */
  unreadable(path: string): string | undefined
}

export const LOCAL_PROBE: CredentialProbe = {
  env: process.env,
  unreadable(path) {
    try {
      accessSync(path, constants.R_OK)
      return undefined
    } catch (err) {
      return String((err as NodeJS.ErrnoException).code)
    }
  },
}

/**
 * Problems with the configured upstream headers. Errors: a name that cannot be configured, a name
 * given twice (in another case). Warnings: a literal credential; a variable not set or a file
 * not readable where the check runs (it may run elsewhere than dualread: CI, a laptop).
 */
export function checkCredentials(policy: Policy, probe: CredentialProbe = LOCAL_PROBE): SemanticProblem[] {
  const problems: SemanticProblem[] = []
  for (const side of SIDES) {
    const seen = new Map<string, string>()
    for (const [name, source] of Object.entries(policy.upstreams[side].headers)) {
      const path: KeyPath = ['upstreams', side, 'headers', name]
      const lower = name.toLowerCase()
      const first = seen.get(lower)
      if (first !== undefined) {
        problems.push({ path, severity: 'error', message: `header "${name}" is given twice (also as "${first}"; header names ignore case)`, fix: 'keep one of them' })
      }
      seen.set(lower, name)
      if (HOP_BY_HOP.has(lower) || SET_PER_REQUEST.has(lower)) {
        problems.push({ path, severity: 'error', message: `"${lower}" is set by dualread for each request and cannot be configured`, fix: 'remove it; configure credential headers such as authorization or x-api-key' })
        continue
      }
      if (typeof source === 'string') {
        if (literalLooksSecret(lower, source)) {
          problems.push({ path, severity: 'warning', message: 'a credential written in the policy: whoever can read the policy (its ConfigMap, the last good copy on disk) can read it', fix: `use { env: NAME } or { file: PATH } filled from a Kubernetes Secret (README.md, "Credentials")` })
        }
      } else if ('env' in source) {
        const value = probe.env[source.env]
        if (value === undefined || value === '') {
          problems.push({ path, severity: 'warning', message: `the environment variable ${source.env} is not set here: calls to ${side} that need it fail until it is`, fix: `set ${source.env} where dualread runs (the chart: credentials.env)` })
        }
      } else {
        const why = probe.unreadable(source.file)
        if (why !== undefined) {
          problems.push({ path, severity: 'warning', message: `cannot read ${source.file} here (${why}): calls to ${side} that need it fail until it can be read`, fix: `mount the Secret there (the chart: credentials.files), or fix the path (${describeSource(source)})` })
        }
      }
    }
  }
  return problems
}
