// Conventions of the suite that, once broken, show only as a rare flake on a loaded machine.
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'

const files = readdirSync('test', { recursive: true, encoding: 'utf8' }).filter(f => f.endsWith('.ts')).map(f => join('test', f))

t.test('test folders come from scratchDir, which removes them after the teardowns that stop what writes there', async t => {
  const allowed = [join('test', 'helpers', 'scratch-dir.ts'), join('test', 'conventions.test.ts')]
  const direct = files.filter(f => !allowed.includes(f) && /\.testdir\(/.test(readFileSync(f, 'utf8')))
  t.same(direct, [], 'use scratchDir(t) from test/helpers/scratch-dir.ts instead of t.testdir()')
})
