// Prometheus's own rule checker: Debian's promtool (package prometheus; test/services.sh installs
// it when missing), or PROMTOOL, or a promtool on PATH.
import { spawnSync } from 'node:child_process'

export interface Promtool {
  version: string
  run(args: string[], cwd: string): { code: number, output: string }
}

/** The promtool to test with, or why there is none. */
export function findPromtool(): Promtool | { missing: string } {
  const path = process.env['PROMTOOL'] || 'promtool'
  const run = (args: string[], cwd = process.cwd()) => {
    const r = spawnSync(path, args, { cwd, encoding: 'utf8' })
    return { code: r.status ?? 127, output: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}` }
  }
  const version = run(['--version'])
  if (version.code !== 0) return { missing: `no promtool (${path}): \`bash test/services.sh\` installs Debian's prometheus package, or set PROMTOOL` }
  return { version: /promtool, version (\S+)/.exec(version.output)?.[1] ?? version.output.trim(), run }
}
