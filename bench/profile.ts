// `npm run bench:profile [-- SECONDS [traced]]`: CPU profiles (--cpu-prof) of dualread and of the
// bare http-proxy-3 (with `traced`: of dualread with tracing off and at 100% sampling) under the
// same fixed 1,000 req/s, each with the CPU time it took per request and its heaviest functions
// and packages by self time. The .cpuprofile files stay in the folder
// printed at the end (open them in Chrome DevTools, Performance panel).
import { readdir, readFile, mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { OpenLoop } from './load.ts'
import { ChildProcesses, type Started } from './processes.ts'

const READ_PATH = '/api/v1/tenants/acme/alert-rules/r1'
const RATE = 1000
const SECONDS = Number(process.argv[2] ?? 10)
const TRACED = process.argv[3] === 'traced'
const TOP = 25

interface ProfileNode { id: number, callFrame: { functionName: string, url: string, lineNumber: number }, children?: number[] }
interface CpuProfile { nodes: ProfileNode[], samples: number[], timeDeltas: number[] }

const dir = process.env['BENCH_PROFILE_DIR'] ?? await mkdtemp(join(tmpdir(), 'dualread-profile-'))
const children = new ChildProcesses({ profileDir: dir })
try {
  const upstream = await children.upstream('upstream')
  const other = await children.upstream('upstream (new)')
  const sides = { oldUrl: upstream.url, newUrl: other.url, shadowPercent: TRACED ? 0 : 1 }
  const sink = TRACED ? await children.otlpSink('otlp sink') : undefined
  const targets: Started[] = [
    sink
      ? await children.dualread('dualread traced 100%', sides, { OTEL_EXPORTER_OTLP_ENDPOINT: sink.url, OTEL_TRACES_SAMPLER: 'always_on' }, { profile: true })
      : await children.bareProxy('http-proxy-3', upstream.url, { profile: true }),
    await children.dualread('dualread', sides, {}, { profile: true }),
  ]
  for (const t of targets) {
    const loop = new OpenLoop(t.url + READ_PATH)
    await loop.run(RATE, 2) // warm-up
    await t.probe.reset()
    const m = await loop.run(RATE, SECONDS)
    const cost = await t.probe.sample()
    await loop.close()
    console.log(`${t.name}: ${m.latenciesMs.length} requests, ${(cost.cpuUs / m.latenciesMs.length).toFixed(0)} µs CPU per request`)
  }
} finally {
  await children.stopAll()
}
for (const file of (await readdir(dir)).filter(f => f.endsWith('.cpuprofile'))) {
  summarizeProfile(file, JSON.parse(await readFile(join(dir, file), 'utf8')) as CpuProfile)
}
console.log(`\nprofiles in ${dir}`)

/** Self time by function and by package (node internals, each dependency, dualread's own folders). */
function summarizeProfile(file: string, p: CpuProfile): void {
  const self = new Map<number, number>()
  p.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)))
  const byId = new Map(p.nodes.map(n => [n.id, n]))
  const total = [...self.values()].reduce((a, b) => a + b, 0)
  const idle = [...self].filter(([id]) => byId.get(id)!.callFrame.functionName === '(idle)').reduce((a, [, t]) => a + t, 0)
  const fns = new Map<string, number>()
  const pkgs = new Map<string, number>()
  for (const [id, t] of self) {
    const f = byId.get(id)!.callFrame
    if (f.functionName === '(idle)') continue
    const key = `${f.functionName || '(anonymous)'} ${shortUrl(f.url)}:${f.lineNumber + 1}`
    fns.set(key, (fns.get(key) ?? 0) + t)
    pkgs.set(packageOf(f.url, f.functionName), (pkgs.get(packageOf(f.url, f.functionName)) ?? 0) + t)
  }
  const busy = total - idle
  const pct = (t: number) => `${(100 * t / busy).toFixed(1).padStart(5)}%`
  console.log(`\n${file}: ${(busy / 1000).toFixed(0)} ms busy of ${(total / 1000).toFixed(0)} ms sampled`)
  console.log('  by package (self time, share of busy):')
  for (const [k, t] of [...pkgs].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(`    ${pct(t)}  ${k}`)
  console.log(`  top ${TOP} functions:`)
  for (const [k, t] of [...fns].sort((a, b) => b[1] - a[1]).slice(0, TOP)) console.log(`    ${pct(t)}  ${k}`)
}

function shortUrl(url: string): string {
  return url.replace(/^file:\/\/.*?\/node_modules\//, '').replace(/^file:\/\/.*?\/(src|bench)\//, '$1/')
}

function packageOf(url: string, fn: string): string {
  if (url === '') return fn.startsWith('(') ? fn : '(native)'
  if (url.startsWith('node:')) return url.split('/').slice(0, 3).join('/')
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)
  if (m) return m[1]!
  const own = /\/(src\/[^/]+|bench)\//.exec(url)
  return own ? own[1]! : url
}
