// `npm install dualread` works: the packed package holds the JavaScript build and what it reads at
// run time, nothing else, and from a project that installed it with production dependencies only
// the `dualread` command runs, an embedder's import runs, its declarations type-check, and the
// whole demo migration plays (one install for all of them: packing and installing take a while).
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { installPackage, ROOT, run, userEnv } from '../helpers/package.ts'

// Packing builds dist/ with tsc and npm installs the tarball: 20-40 s on an idle 2-core machine,
// past the suite's 60 s on a loaded one.
t.setTimeout(180_000)

const installed = await installPackage(t)
const { project, bin } = installed
const dualread = (...args: string[]) => run(bin, args, project)

t.test('the package holds the build, its declarations and what it reads at run time; no sources, tests or dev files', async t => {
  const files = installed.packed.files.map(f => f.path)
  for (const needed of ['LICENSE', 'bin/dualread.js', 'dist/cli/main.js', 'dist/index.js', 'dist/index.d.ts', 'dist/admin/ui.html', 'policies/demo.yaml', 'policies/reference.yaml']) {
    t.ok(files.includes(needed), needed)
  }
  const unexpected = files.filter(f => !/^(bin\/dualread\.js|package\.json|README\.md|LICENSE|policies\/[\w-]+\.yaml|dist\/.+\.(js|d\.ts|html))$/.test(f) || /\.test\./.test(f))
  t.same(unexpected, [], 'nothing but bin, dist, policies, package.json, README and LICENSE')
  t.notOk(existsSync(join(project, 'node_modules/typescript')), 'no dev dependency installed')
  t.notOk(existsSync(join(project, 'node_modules/node')), 'nor the `node` devDependency: the Node that runs it is the user\'s')
})

t.test('dualread --help', async t => {
  const { stdout, stderr } = await dualread('--help')
  t.match(stdout, /^Usage: dualread \[options\] \[command\]/)
  t.match(stdout, /\n {2}demo \[options\]/)
  t.equal(stderr, '')
})

t.test('dualread policy check on each shipped policy', async t => {
  for (const policy of ['demo', 'minimal', 'reference', 'alertmanager']) {
    const file = join(project, 'node_modules/dualread/policies', `${policy}.yaml`)
    const { stdout } = await dualread('policy', 'check', file)
    t.match(stdout, `${file}: ok (hash `)
  }
})

t.test('an embedder imports the package and its declarations type-check', async t => {
  const embed = [
    "import { compilePolicy, explainRequest, parsePolicy, type Policy } from 'dualread'",
    "import { readFileSync } from 'node:fs'",
    "const file = 'node_modules/dualread/policies/reference.yaml'",
    'const result = parsePolicy(readFileSync(file, \'utf8\'), file)',
    "if (!result.ok) throw new Error('rejected')",
    'const policy: Policy = result.policy',
    "// @ts-expect-error the declarations are real types, not any: a policy's authority is a side",
    'const wrong: number = policy.authority',
    "console.log(explainRequest(compilePolicy(policy, result.hash), { method: 'GET', path: '/api/v1/tenants/acme/alert-rules', headers: {} }).join('\\n'))",
    'export { wrong }',
  ].join('\n')
  await writeFile(join(project, 'embed.ts'), embed)
  await writeFile(join(project, 'embed.mjs'), embed.replace(', type Policy', '').replace(': Policy', '').replace(': number', ''))
  const { stdout } = await run(process.execPath, ['embed.mjs'], project)
  t.match(stdout, /^served by: new; reason: rule \(primary\)$/m, 'the import runs')
  // Strict, and the installed packages' declarations checked too (skipLibCheck off); Node's types from this repository.
  await writeFile(join(project, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { module: 'nodenext', target: 'es2024', strict: true, noEmit: true, skipLibCheck: false, types: ['node'], typeRoots: [join(ROOT, 'node_modules/@types')] },
    files: ['embed.ts'],
  }))
  const typecheck = await run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], project)
    .then(r => ({ code: 0, out: r.stdout }), (err: { code: number, stdout: string }) => ({ code: err.code, out: err.stdout }))
  t.same(typecheck, { code: 0, out: '' })
})

t.test('dualread demo --duration 5 from the installed package', async t => {
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
