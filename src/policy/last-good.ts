// The last good policy, saved in the state directory so that a restart with a broken file still
// serves. A saved copy belongs to one policy file (its absolute path) and one migration: started
// with another, a process refuses it and says why, rather than serve another policy's upstreams,
// ports and authority under this file's name.
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { parseDocument } from 'yaml'
import { z } from 'zod'
import type { CompiledPolicy } from './compile.ts'
import { loadPolicyText, type Compile } from './load.ts'
import { formatProblem } from './problems.ts'

export const LAST_GOOD_FILE = 'last-good-policy.json'
/** Written by versions that kept only the text, with no record of whose it was. */
export const LEGACY_LAST_GOOD_FILE = 'last-good-policy.yaml'

const savedSchema = z.object({
  format: z.literal(1),
  /** Absolute path of the policy file this copy was loaded from. */
  file: z.string(),
  migration: z.string(),
  hash: z.string(),
  savedAt: z.string(),
  text: z.string(),
})
export type SavedPolicy = z.infer<typeof savedSchema>

export type LastGoodLoad =
  | { ok: true, compiled: CompiledPolicy, saved: Omit<SavedPolicy, 'text'>, migrationChecked: boolean }
  | { ok: false, reason: string }

export class LastGoodPolicy {
  readonly dir: string
  /** The absolute path of the policy file whose last good copy this is. */
  readonly file: string
  #compile: Compile | undefined

  constructor(dir: string, policyFile: string, compile?: Compile) {
    this.dir = dir
    this.file = resolve(policyFile)
    this.#compile = compile
  }

  get path(): string {
    return join(this.dir, LAST_GOOD_FILE)
  }

  /** Saves a policy that was just applied from the file (atomically: a crash never leaves half a copy). */
  async save(text: string, compiled: CompiledPolicy): Promise<void> {
    const saved: SavedPolicy = { format: 1, file: this.file, migration: compiled.policy.migration, hash: compiled.hash, savedAt: new Date().toISOString(), text }
    await mkdir(this.dir, { recursive: true })
    const tmp = `${this.path}.${process.pid}.tmp`
    await writeFile(tmp, `${JSON.stringify(saved, null, 2)}\n`)
    await rename(tmp, this.path)
    // A copy without metadata would only ever be refused; the new one replaces it.
    await rm(join(this.dir, LEGACY_LAST_GOOD_FILE), { force: true })
  }

  /**
   * The saved copy, when it belongs to this file and to the migration the (broken) file names.
   * `brokenText` is the file's current text, undefined when it cannot be read.
   */
  async load(brokenText: string | undefined): Promise<LastGoodLoad> {
    let raw: string
    try {
      raw = await readFile(this.path, 'utf8')
    } catch {
      const legacy = join(this.dir, LEGACY_LAST_GOOD_FILE)
      const hasLegacy = await stat(legacy).then(() => true, () => false)
      return {
        ok: false,
        reason: hasLegacy
          ? `the last good policy in ${legacy} was saved by an older dualread with no record of which policy file and migration it belongs to, so it is not used (it may be another policy's)`
          : `no last good policy was saved in ${this.dir}`,
      }
    }
    const parsed = savedSchema.safeParse(parseJson(raw))
    if (!parsed.success) return { ok: false, reason: `the saved last good policy ${this.path} is damaged (not a saved policy: ${parsed.error.issues[0]!.message}), so it is not used` }
    const { text, ...saved } = parsed.data
    if (saved.file !== this.file) {
      return { ok: false, reason: `the last good policy saved in ${this.dir} belongs to ${saved.file} (migration "${saved.migration}"), not to ${this.file}, so it is not used` }
    }
    const migration = declaredMigration(brokenText)
    if (migration !== undefined && migration !== saved.migration) {
      return { ok: false, reason: `the last good policy saved in ${this.dir} belongs to migration "${saved.migration}", but ${this.file} names migration "${migration}", so it is not used` }
    }
    const loaded = loadPolicyText(text, this.path, this.#compile)
    if (!loaded.ok) return { ok: false, reason: `the saved last good policy ${this.path} no longer validates (${formatProblem(loaded.errors[0]!)}), so it is not used` }
    return { ok: true, compiled: loaded.compiled, saved, migrationChecked: migration !== undefined }
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/**
 * The migration a policy file that failed validation names, as far as it can be told: its
 * `migration` key; the schema default when a file that parses has none; unknown (undefined) when
 * the file cannot be read, or the key is lost in a syntax error or is not a string.
 */
export function declaredMigration(text: string | undefined): string | undefined {
  if (text === undefined) return undefined
  const doc = parseDocument(text)
  const value = doc.get('migration')
  if (typeof value === 'string') return value
  return value === undefined && doc.errors.length === 0 ? 'default' : undefined
}
