// Runs the real `dualread` command as a child process and waits for it to listen.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import { onExit } from 'signal-exit'

const BIN = join(import.meta.dirname, '../../bin/dualread.js')

// A test that ends abruptly (tap's timeout ends the process with SIGALRM) must not leave its
// children running: an orphaned sync goes on writing to the shared Redis and the test's folder.
const running = new Set<ReturnType<typeof spawn>>()
onExit(() => { for (const child of running) child.kill('SIGKILL') })

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
  running.add(child)
  const exited = once(child, 'exit') as Promise<[number | null, string | null]>
  void exited.then(() => running.delete(child))
  const listening = new Promise<{ proxy: string, admin: string }>((resolve, reject) => {
    child.stdout.on('data', () => {
      const line = stdout.split('\n').find(l => l.includes(readyMessage))
      if (line) resolve(JSON.parse(line) as { proxy: string, admin: string })
    })
    void exited.then(() => reject(new Error(`exited early: ${stderr}`)))
  })
  listening.catch(() => undefined) // awaited only by tests that expect a start
  /** SIGKILL, resolved once it has exited: nothing it sent can reach Redis after a later teardown cleans up. */
  const kill = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    await exited
  }
  return { child, exited, listening, kill, output: () => ({ stdout, stderr }) }
}

