// A real Prometheus Alertmanager (Debian's prometheus-alertmanager; test/services.sh installs it
// when missing) on a free loopback port, clustering off, with its own storage and a config file.
import { spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { writeFileSync, mkdirSync } from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { join } from 'node:path'
import { onExit } from 'signal-exit'

const BINARY = process.env['ALERTMANAGER'] || 'prometheus-alertmanager'
const READY_TIMEOUT_MS = 20_000

const running = new Set<ReturnType<typeof spawn>>()
onExit(() => { for (const child of running) child.kill('SIGKILL') })

/** Why there is no Alertmanager to test with, or undefined when there is one. */
export function alertmanagerMissing(): string | undefined {
  const r = spawnSync(BINARY, ['--version'], { encoding: 'utf8' })
  return r.status === 0 ? undefined : `no Alertmanager (${BINARY}): \`bash test/services.sh\` installs Debian's prometheus-alertmanager (as root), or set ALERTMANAGER`
}

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  await new Promise(resolve => server.close(resolve))
  return port
}

export interface Alertmanager {
  url: string
  /** POSTs a silence; resolves to its id. */
  silence(body: Record<string, unknown>): Promise<string>
  json(path: string, init?: RequestInit): Promise<unknown>
}

/** Starts one Alertmanager in `dir` with `config` (YAML); stopped at the test's teardown. */
export async function startAlertmanager(t: { teardown(fn: () => unknown): void }, dir: string, config: string): Promise<Alertmanager> {
  mkdirSync(join(dir, 'data'), { recursive: true })
  writeFileSync(join(dir, 'alertmanager.yml'), config)
  const port = await freePort()
  const child = spawn(BINARY, [
    `--config.file=${join(dir, 'alertmanager.yml')}`, `--storage.path=${join(dir, 'data')}`,
    '--cluster.listen-address=', `--web.listen-address=127.0.0.1:${port}`,
  ], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', d => { stderr += d })
  running.add(child)
  const exited = once(child, 'exit')
  t.teardown(async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM')
      await exited
    }
    running.delete(child)
  })
  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + READY_TIMEOUT_MS
  for (;;) {
    if (child.exitCode !== null) throw new Error(`Alertmanager exited: ${stderr}`)
    const ready = await fetch(`${url}/-/ready`).then(r => r.ok, () => false)
    if (ready) break
    if (Date.now() > deadline) throw new Error(`Alertmanager not ready on ${url}: ${stderr}`)
    await new Promise(r => setTimeout(r, 50))
  }
  const json = async (path: string, init?: RequestInit) => {
    const res = await fetch(url + path, init)
    const text = await res.text()
    if (!res.ok) throw new Error(`${init?.method ?? 'GET'} ${path} answered ${res.status}: ${text}`)
    return text === '' ? undefined : JSON.parse(text) as unknown
  }
  return {
    url, json,
    async silence(body) {
      const answer = await json('/api/v2/silences', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }) as { silenceID: string }
      return answer.silenceID
    },
  }
}
