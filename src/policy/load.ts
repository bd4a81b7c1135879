// Policy text to the compiled policy the request path uses, or to the problems that reject it.
// It never throws: whatever parsing or compiling throws becomes a problem with the reason, so a
// reload can only end as applied or rejected, and a bad edit never takes a process down.
import { compilePolicy, type CompiledPolicy } from './compile.ts'
import { hashPolicyText, parsePolicy } from './parse.ts'
import type { Policy } from './schema.ts'
import type { PolicyProblem } from './problems.ts'

export type PolicyLoad =
  | { ok: true, compiled: CompiledPolicy, hash: string, warnings: PolicyProblem[] }
  | { ok: false, errors: PolicyProblem[], warnings: PolicyProblem[], hash: string }

export type Compile = (policy: Policy, hash: string) => CompiledPolicy

/**
 * Parses, validates and compiles a policy.
 * @example
 * const load = loadPolicyText(await readFile(file, 'utf8'), file)
 * if (!load.ok) log.error({ problems: load.errors.map(formatProblem) }, 'policy rejected')
 */
export function loadPolicyText(text: string, file: string, compile: Compile = compilePolicy): PolicyLoad {
  try {
    const result = parsePolicy(text, file)
    if (!result.ok) return result
    return { ok: true, compiled: compile(result.policy, result.hash), hash: result.hash, warnings: result.warnings }
  } catch (err) {
    const problem: PolicyProblem = {
      file, line: 1, column: 1, key: '(policy)', severity: 'error',
      message: `cannot load this policy: ${(err as Error).message}`,
      fix: 'run `dualread policy check` on the file; if it passes there, report this message as a bug',
    }
    return { ok: false, errors: [problem], warnings: [], hash: hashPolicyText(text) }
  }
}
