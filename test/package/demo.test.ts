// The installed package's `dualread demo` (its own file: packing and installing take a while, and so
// does the demo): the whole migration runs from node_modules, the dashboard page is served, and
// `--duration` stops it.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import t from 'tap'
import { installPackage, userEnv } from '../helpers/package.ts'

// Packing builds dist/ with tsc and npm installs the tarball: 20-40 s on an idle 2-core machine,
// past the suite's 60 s on a loaded one.
t.setTimeout(180_000)

t.test('dualread demo --duration 5 from the installed package', async t => {
  const { project, bin } = await installPackage(t)
  const child = spawn('env', ['-u', 'NODE_OPTIONS', bin, 'demo', '--duration', '5', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0',
    '--sync-admin', '127.0.0.1:0', '--old-port', '0', '--new-port', '0', '--state-dir', join(project, 'demo')], { cwd: project, env: userEnv, stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => { child.kill('SIGKILL') })
  let stdout = ''
  let stderr = ''
  child.stderr.on('data', d => { stderr += d })
  const dashboard = new Promise<string>(resolve => child.stdout.on('data', d => {
    stdout += d
    const url = / dashboard (http:\/\/127\.0\.0\.1:\d+\/ui) /.exec(stdout)?.[1]
    if (url) resolve(url)
  }))
  const exited = once(child, 'exit') as Promise<[number | null]>
  const ui = await Promise.race([dashboard.then(url => fetch(url)), exited.then(() => undefined)])
  t.equal(ui?.status, 200, `the dashboard page (dist/admin/ui.html) is served: ${stderr}`)
  t.match(await ui?.text(), '<title>dualread</title>')
  const [code] = await exited
  t.equal(code, 0, stderr)
  t.match(stdout, /drift found on alert rules: .*\/escalationPolicyId \(critical/)
  t.match(stdout, /Done: the cutover played through/)
  t.match(stdout, /\ndemo stopped\n$/)
})
