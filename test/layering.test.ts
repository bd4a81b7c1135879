// The read path's layers import only downwards: a read flows classify → route → serve → respond
// (proxy/) → shadow → record (parity/, evidence/, rollback/), and each stage is handed what it
// needs through interfaces the lower layer defines (parity/stage.ts). Checked on the import
// statements of src/ itself, so a new upward import fails here before it tangles the path again.
import t from 'tap'
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'

const SRC = join(import.meta.dirname, '../src')

/** The read path's folders, lowest first: each may import only those before it (and itself). */
const READ_PATH = ['policy', 'rollback', 'evidence', 'parity', 'proxy', 'sidecar', 'cli']
/** What the comparison workers load must stay pure: no sockets, no telemetry pipeline, no proxy. */
const WORKER_ENTRY = 'parity/compare-worker.ts'
const WORKER_MAY_LOAD = /^(parity|policy)\/|^telemetry\/secrets\.ts$/

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap(e => e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [])
}

/** The src/-relative files a file imports (static, dynamic and `import()` types alike). */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8')
  const specifiers = [...text.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*|^\s*import\s+)'(\.{1,2}\/[^']+)'/gm)].map(m => m[1]!)
  return specifiers.map(s => relative(SRC, resolve(dirname(file), s)))
}

const graph = new Map(sourceFiles(SRC).map(f => [relative(SRC, f), importsOf(f)]))
const folder = (file: string) => file.includes('/') ? file.split('/')[0]! : '(root)'

t.test('the scan sees the imports it checks', async t => {
  t.ok(graph.get('proxy/server.ts')!.includes('parity/stage.ts'), 'a static import is seen')
  t.ok(graph.get('sidecar/proxy-sidecar.ts')!.some(f => f.startsWith('proxy/')))
  t.ok([...graph.values()].flat().every(f => graph.has(f) || f.endsWith('.html')), 'every import resolves to a file of src/')
})

t.test('no layer of the read path imports a layer above it', async t => {
  const upward: string[] = []
  for (const [file, imports] of graph) {
    const rank = READ_PATH.indexOf(folder(file))
    if (rank === -1) continue
    for (const imported of imports) {
      const target = READ_PATH.indexOf(folder(imported))
      if (target > rank) upward.push(`${file} imports ${imported}`)
    }
  }
  t.same(upward, [], `${READ_PATH.join(' < ')}: parity reads sides through parity/stage.ts, policy explains nothing about the proxy (cli/explain.ts does)`)
})

t.test('no folder outside the read path reaches into the proxy or the wiring above it', async t => {
  const top = new Set(['proxy', 'sidecar', 'cli', 'admin', 'demo'])
  const found: string[] = []
  for (const [file, imports] of graph) {
    if (READ_PATH.includes(folder(file)) || top.has(folder(file)) || folder(file) === '(root)') continue
    for (const imported of imports) if (top.has(folder(imported)) && folder(imported) !== folder(file)) found.push(`${file} imports ${imported}`)
  }
  // Known, and outside the read path's layering: the policy check of credential headers names
  // the hop-by-hop headers the proxy drops (credentials/check.ts → proxy/headers.ts).
  t.same(found, ['credentials/check.ts imports proxy/headers.ts'])
})

t.test('a comparison worker loads only pure parity and policy code', async t => {
  const loaded = new Set<string>()
  const visit = (file: string) => {
    if (loaded.has(file)) return
    loaded.add(file)
    for (const imported of graph.get(file) ?? []) visit(imported)
  }
  visit(WORKER_ENTRY)
  t.ok(loaded.has('parity/compare.ts'))
  t.same([...loaded].filter(f => !WORKER_MAY_LOAD.test(f)), [], 'nothing of the proxy, the telemetry pipeline or the shared state')
})
