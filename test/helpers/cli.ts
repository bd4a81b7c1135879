// Runs `dualread ...` in-process and captures its output and exit code.
import { buildProgram } from '../../src/cli/main.ts'

export async function runCli(...args: string[]): Promise<{ out: string, code: number }> {
  const out: string[] = []
  process.exitCode = 0
  await buildProgram({ out: s => out.push(s), err: s => out.push(s) }).parseAsync(['node', 'dualread', ...args])
  // The CLI reports failure through process.exitCode; keep it from failing the test process.
  const code = Number(process.exitCode ?? 0)
  process.exitCode = 0
  return { out: out.join(''), code }
}
