// Runs the real `dualread` command as a child process and waits for it to listen.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'

const BIN = join(import.meta.dirname, '../../bin/dualread.js')

/**
 * Starts `dualread ARGS`; `listening` resolves with the JSON log line that says it is up. `env`
 * is added to this process's (an undefined value removes a variable); `nodeArgs` go before the script.
 */
export function startProcess(args: string[], env: Record<string, string | undefined> = {}, readyMessage = 'dualread proxy listening', nodeArgs: string[] = []) {
  const child = spawn(process.execPath, [...nodeArgs, BIN, ...args], { env: { ...process.env, LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', d => { stdout += d })
  child.stderr.on('data', d => { stderr += d })
  const exited = once(child, 'exit') as Promise<[number | null, string | null]>
  const listening = new Promise<{ proxy: string, admin: string }>((resolve, reject) => {
    child.stdout.on('data', () => {
      const line = stdout.split('\n').find(l => l.includes(readyMessage))
      if (line) resolve(JSON.parse(line) as { proxy: string, admin: string })
    })
    void exited.then(() => reject(new Error(`exited early: ${stderr}`)))
  })
  listening.catch(() => undefined) // awaited only by tests that expect a start
  return { child, exited, listening, output: () => ({ stdout, stderr }) }
}

