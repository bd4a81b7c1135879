// The Dockerfile, read for what an operator relies on (no Docker engine here to build it): a Node 24
// final stage without dev dependencies that holds what the npm package holds, built by the script
// `npm pack` runs, a non-root user, the app outside node_modules, the entrypoint and the
// environment the CLI really reads, and a HEALTHCHECK that works.
import { execFile } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { parse } from 'yaml'
import { buildProgram } from '../../src/cli/main.ts'
import { DEFAULT_SYNC_ADMIN } from '../../src/sidecar/sync-process.ts'
import { writePolicy } from '../helpers/policy.ts'
import { startTestSidecar } from '../helpers/sidecar.ts'
import { refusedPort, startPair } from '../helpers/upstream.ts'
import { scratchDir } from '../helpers/scratch-dir.ts'

const ROOT = join(import.meta.dirname, '../..')

interface Instruction { keyword: string, args: string, line: number }
interface Stage { from: string, name: string | undefined, instructions: Instruction[] }

/** Instructions by stage, with line continuations joined and comments dropped. */
function parseDockerfile(text: string): { args: Map<string, string>, stages: Stage[] } {
  const args = new Map<string, string>()
  const stages: Stage[] = []
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const start = i
    let line = lines[i]!
    while (line.endsWith('\\')) line = `${line.slice(0, -1)} ${lines[++i]!.trim()}`
    if (/^\s*(#|$)/.test(line)) continue
    const m = /^\s*([A-Za-z]+)\s+(.*)$/.exec(line)
    if (!m) throw new Error(`Dockerfile line ${start + 1}: ${line}`)
    const keyword = m[1]!.toUpperCase()
    const rest = m[2]!.trim()
    if (keyword === 'FROM') {
      const [image, as, name] = rest.split(/\s+/)
      const from = image!.replace(/\$\{(\w+)\}/g, (_, v: string) => args.get(v) ?? '')
      stages.push({ from, name: as?.toUpperCase() === 'AS' ? name : undefined, instructions: [] })
    } else if (keyword === 'ARG' && stages.length === 0) {
      const [k, v] = rest.split('=')
      args.set(k!, v ?? '')
    } else {
      stages.at(-1)?.instructions.push({ keyword, args: rest, line: start + 1 })
    }
  }
  return { args, stages }
}

/** `ENV A=1 B=2` (no spaces in values, as this Dockerfile writes them). */
function envOf(stage: Stage): Record<string, string> {
  return Object.fromEntries(stage.instructions.filter(i => i.keyword === 'ENV').flatMap(i => i.args.split(/\s+/).map(kv => kv.split('=') as [string, string])))
}

/** COPY sources and destination, without flags such as --from or --chown. */
function copyOf(i: Instruction): { from: string | undefined, sources: string[], dest: string } {
  const words = i.args.split(/\s+/)
  const from = words.find(w => w.startsWith('--from='))?.slice('--from='.length)
  const paths = words.filter(w => !w.startsWith('--'))
  return { from, sources: paths.slice(0, -1), dest: paths.at(-1)! }
}

const { stages } = parseDockerfile(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'))
const final = stages.at(-1)!
const all = (stage: Stage, keyword: string) => stage.instructions.filter(i => i.keyword === keyword)
const last = (stage: Stage, keyword: string) => all(stage, keyword).at(-1)

t.test('multi-stage, and the final stage is the official Node 24 image', async t => {
  t.ok(stages.length >= 2, `${stages.length} stages`)
  for (const s of stages) t.match(s.from, /^node:24(-|$)/, `FROM ${s.from}`)
})

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { files: string[], scripts: Record<string, string>, dependencies: Record<string, string> }
const stageNamed = (name: string | undefined) => stages.find(s => s.name === name)

t.test('dependencies are installed from the lockfile, never in the final stage, and only production ones reach it', async t => {
  const installs = stages.flatMap(s => all(s, 'RUN').filter(r => /\bnpm (ci|install|i)\b/.test(r.args)).map(r => ({ stage: s, run: r })))
  for (const { stage, run } of installs) {
    t.match(run.args, /\bnpm ci\b.*--ignore-scripts/, `${stage.name}: npm ci (the lockfile), no install scripts (the \`node\` devDependency would fetch a second Node)`)
    t.not(stage, final, 'not in the final stage')
  }
  const taken = all(final, 'COPY').map(copyOf).filter(c => c.from !== undefined)
  t.same(taken.map(c => [c.sources, c.dest]), [[['/app/node_modules'], './node_modules'], [['/app/dist'], './dist']], 'the final stage takes node_modules and the build from the other stages')
  const deps = stageNamed(taken.find(c => c.dest === './node_modules')?.from)
  t.ok(deps && all(deps, 'RUN').some(r => /\bnpm ci\b.*--omit=dev/.test(r.args)), 'its node_modules: npm ci --omit=dev')
})

t.test('the image is built the way the package is: the build stage runs the script prepack runs', async t => {
  t.equal(pkg.scripts['prepack'], 'npm run build', 'npm pack builds with npm run build')
  const build = stageNamed(all(final, 'COPY').map(copyOf).find(c => c.dest === './dist')?.from)
  t.ok(build, 'a build stage')
  t.same(all(build!, 'RUN').map(r => r.args).filter(a => !/\bnpm ci\b/.test(a)), ['npm run build'])
  const sources = all(build!, 'COPY').map(copyOf).flatMap(c => c.sources)
  t.match(pkg.scripts['build'], /tsc -p tsconfig\.build\.json/)
  for (const needed of ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'src']) t.ok(sources.includes(needed), `the build stage has ${needed}`)
})

t.test('the final stage holds what the npm package holds and runs it from /app, not under node_modules', async t => {
  const copied = all(final, 'COPY').map(copyOf).flatMap(c => c.from === undefined ? c.sources : c.dest === './dist' ? ['dist'] : [])
  t.same(copied.sort(), ['package.json', 'LICENSE', ...pkg.files].sort(), 'package.json, the LICENSE and its `files`')
  t.notOk(copied.includes('src'), 'no TypeScript sources, so bin/dualread.js runs dist/')
  for (const source of stages.flatMap(s => all(s, 'COPY').map(copyOf).filter(c => c.from === undefined).flatMap(c => c.sources))) {
    t.ok(existsSync(join(ROOT, source)), `${source} exists in the repository`)
    t.notMatch(source, /^(test|bench|coverage|\.tap|node_modules|dist)\b/, `${source} is not a test, bench or build artefact`)
  }
  t.equal(last(final, 'WORKDIR')?.args, '/app')
  t.equal(last(final, 'ENTRYPOINT')?.args, '["node", "/app/bin/dualread.js"]')
  t.equal(last(final, 'CMD')?.args, '["proxy"]', 'the sidecar by default')
  t.ok(buildProgram().commands.some(c => c.name() === 'proxy'), 'a command the CLI has')
})

t.test('the production dependencies the image installs are all the app loads at run time', async t => {
  const files = [...readdirSync(join(ROOT, 'src'), { recursive: true, encoding: 'utf8' }).map(f => join('src', f)), 'bin/dualread.js'].filter(f => /\.(ts|js)$/.test(f))
  // `import type` is erased by type stripping; every other import loads its module.
  const RUNTIME_IMPORT = /(?:^|\n)\s*(?:import|export)(\s+type\b)?[^'"]*?\bfrom\s*'([^']+)'|\bimport\(\s*'([^']+)'\s*\)/g
  const packages = new Set<string>()
  for (const file of files) {
    for (const m of readFileSync(join(ROOT, file), 'utf8').matchAll(RUNTIME_IMPORT)) {
      const specifier = m[1] ? undefined : m[2] ?? m[3]
      if (!specifier || specifier.startsWith('.') || specifier.startsWith('node:')) continue
      packages.add(specifier.split('/').slice(0, specifier.startsWith('@') ? 2 : 1).join('/'))
    }
  }
  t.ok(packages.size >= 10, [...packages].join(', '))
  for (const name of packages) t.ok(pkg.dependencies[name], `${name} is a dependency, so npm ci --omit=dev installs it`)
})

t.test('it runs as a non-root user, with one writable state directory', async t => {
  const user = last(final, 'USER')?.args
  t.ok(user && !/^(root|0)(:|$)/.test(user), `USER ${user}`)
  const env = envOf(final)
  t.equal(env['DUALREAD_POLICY'], '/etc/dualread/policy.yaml')
  const stateDir = env['DUALREAD_STATE_DIR']
  t.match(stateDir, /^\/var\/lib\//, 'the state dir is outside the app')
  t.ok(all(final, 'RUN').some(r => r.args.includes(`chown ${user}:${user} ${stateDir}`)), 'and owned by the user')
  const userIndex = final.instructions.findIndex(i => i.keyword === 'USER')
  t.ok(final.instructions.slice(userIndex).every(i => !['RUN', 'COPY'].includes(i.keyword)), 'nothing is installed after switching user')
  for (const command of ['proxy', 'sync']) {
    const envVars = buildProgram().commands.find(c => c.name() === command)!.options.map(o => o.envVar)
    t.ok(envVars.includes('DUALREAD_POLICY') && envVars.includes('DUALREAD_STATE_DIR'), `dualread ${command} reads DUALREAD_POLICY and DUALREAD_STATE_DIR`)
  }
})

t.test('the exposed ports are the chart\'s and the CLI\'s defaults', async t => {
  const exposed = all(final, 'EXPOSE').flatMap(e => e.args.split(/\s+/)).map(Number).sort()
  const values = parse(readFileSync(join(ROOT, 'charts/dualread/values.yaml'), 'utf8')) as { sidecar: { ports: { proxy: number, admin: number } }, sync: { adminPort: number } }
  t.same(exposed, [values.sidecar.ports.proxy, values.sidecar.ports.admin, values.sync.adminPort].sort())
  t.equal(values.sync.adminPort, Number(DEFAULT_SYNC_ADMIN.split(':')[1]), "the sync's admin port is its CLI default")
})

t.test('the HEALTHCHECK asks the admin /healthz with node\'s fetch, and fails when nothing answers', async t => {
  const healthcheck = last(final, 'HEALTHCHECK')?.args ?? ''
  const exec = JSON.parse(healthcheck.slice(healthcheck.indexOf('CMD ') + 4)) as string[]
  t.same(exec.slice(0, 2), ['node', '-e'], 'exec form, node only (no curl in slim images)')
  t.match(envOf(final)['DUALREAD_HEALTHCHECK_URL'], /^http:\/\/127\.0\.0\.1:9090\/healthz$/, "the proxy's admin /healthz by default")

  // The very command, against a real sidecar.
  const { oldUp, newUp } = await startPair(t)
  const dir = scratchDir(t)
  const sidecar = await startTestSidecar(t, { policyFile: writePolicy(dir, { oldUrl: oldUp.url, newUrl: newUp.url }), stateDir: dir })
  const run = (url: string) => promisify(execFile)(process.execPath, exec.slice(1), { env: { ...process.env, DUALREAD_HEALTHCHECK_URL: url } }).then(() => 0, (err: { code: number }) => err.code)
  t.equal(await run(`${sidecar.adminUrl}/healthz`), 0, 'healthy when /healthz answers')
  t.equal(await run(`${sidecar.adminUrl}/nothing-here`), 1, 'unhealthy on an error status')
  t.equal(await run(`http://127.0.0.1:${await refusedPort()}/healthz`), 1, 'unhealthy when nothing listens')
})

t.test('.dockerignore keeps the build context to what the image needs', async t => {
  const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').map(l => l.trim()).filter(l => l && !l.startsWith('#'))
  for (const p of ['node_modules', 'dist', '.git', '.tap', 'coverage', '.dualread', 'test', 'bench']) t.ok(ignored.includes(p), `ignores ${p}`)
  const copied = stages.flatMap(s => all(s, 'COPY').map(copyOf).filter(c => c.from === undefined).flatMap(c => c.sources))
  for (const source of copied) t.notOk(ignored.includes(source), `keeps ${source}`)
})
