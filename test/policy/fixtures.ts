// Policies for the policy tests: the shipped examples, and hand-built ones with schema defaults filled in.
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parsePolicy } from '../../src/policy/parse.ts'
import { policySchema, type Policy, type PolicyInput } from '../../src/policy/schema.ts'

export const REFERENCE_FILE = fileURLToPath(new URL('../../policies/reference.yaml', import.meta.url))
export const MINIMAL_FILE = fileURLToPath(new URL('../../policies/minimal.yaml', import.meta.url))

/** Parses a policy that must be valid; fails loudly with the problems otherwise. */
export function validPolicy(text: string, file = 'policy.yaml'): Policy {
  const result = parsePolicy(text, file)
  if (!result.ok) throw new Error(`expected a valid policy, got:\n${JSON.stringify(result.errors, null, 2)}`)
  return result.policy
}

export function referencePolicy(): Policy {
  return validPolicy(readFileSync(REFERENCE_FILE, 'utf8'), REFERENCE_FILE)
}

/** A policy built in code (schema defaults applied, no semantic checks), for routing tests. */
export function policyWith(input: Partial<PolicyInput>): Policy {
  return policySchema.parse({
    version: 1,
    upstreams: { old: { url: 'http://127.0.0.1:8081' }, new: { url: 'http://127.0.0.1:8082' } },
    authority: 'old',
    rules: [{ name: 'default', primary: 'old' }],
    ...input,
  })
}
