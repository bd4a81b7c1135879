// The npm package as a user gets it: `npm pack` (whose prepack builds dist/) of a copy of this
// repository, installed with production dependencies only into an empty project under the OS's
// temporary directory. The copy keeps the work tree's dist/ untouched (install.test.ts, the one
// file that packs, installs once for all its tests).
import { execFile } from 'node:child_process'
import { cp, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, delimiter, dirname, join } from 'node:path'
import { promisify } from 'node:util'
import type { Test } from 'tap'

export const ROOT = join(import.meta.dirname, '../..')
/** What a clone does not have: installed, built or written by runs. */
const NOT_IN_A_CLONE = new Set(['node_modules', '.git', '.tap', 'dist', 'coverage', 'artifacts', '.dualread'])

/**
 * The environment of a user's shell: this Node (the project's Node 24) first on PATH, and none of
 * what `npm test` and tap set for their own children (npm_* would point npm at this project).
 */
export const userEnv: Record<string, string> = {
  ...Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] =>
    e[1] !== undefined && !/^(npm_|_TAPJS_|TAP_|TAP$|NODE_V8_COVERAGE$)/.test(e[0]))),
  PATH: [dirname(process.execPath), process.env['PATH'] ?? ''].join(delimiter),
}

/**
 * Runs a command as a user's shell would. Tap adds its process tracking to NODE_OPTIONS of every
 * child whatever env it is given, and that loader cannot start an extensionless ES module bin such
 * as typescript's tsc (ERR_REQUIRE_CYCLE_MODULE), and the package should run as it does for a
 * user anyway; `env -u` takes it out again.
 */
export function run(command: string, args: string[], cwd: string) {
  return promisify(execFile)('env', ['-u', 'NODE_OPTIONS', command, ...args], { cwd, env: userEnv })
}

export interface Installed {
  /** The scratch project the package is installed in. */
  project: string
  /** node_modules/.bin/dualread there. */
  bin: string
  /** What `npm pack --json` said it packed. */
  packed: { filename: string, files: Array<{ path: string }> }
}

/** Packs a copy of the repository and installs the tarball, production dependencies only; removed at teardown. */
export async function installPackage(t: Test): Promise<Installed> {
  const scratch = await mkdtemp(join(tmpdir(), 'dualread-package-'))
  t.teardown(() => rm(scratch, { recursive: true, force: true }))
  try {
    const repo = join(scratch, 'repo')
    await cp(ROOT, repo, { recursive: true, filter: source => source === ROOT || !NOT_IN_A_CLONE.has(basename(source)) || dirname(source) !== ROOT })
    await symlink(join(ROOT, 'node_modules'), join(repo, 'node_modules'))
    // --silent: only the JSON on stdout, not the prepack script's banner.
    const { stdout } = await run('npm', ['pack', '--json', '--silent', '--pack-destination', scratch], repo)
    const [packed] = JSON.parse(stdout) as [Installed['packed']]
    const project = join(scratch, 'project')
    await mkdir(project)
    await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'scratch', version: '1.0.0', private: true }))
    await run('npm', ['install', '--omit=dev', '--no-audit', '--no-fund', join(scratch, packed.filename)], project)
    return { project, bin: join(project, 'node_modules/.bin/dualread'), packed }
  } catch (err) {
    // A test file that awaits this at its top level ends here, before any teardown runs.
    await rm(scratch, { recursive: true, force: true })
    throw err
  }
}
