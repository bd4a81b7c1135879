// clientResponseHead (src/proxy/headers.ts): the head a read's answer is written with, as a flat list.
import t from 'tap'
import { clientResponseHead } from '../../src/proxy/headers.ts'

const pairs = (list: Array<string | string[]>) => Array.from({ length: list.length / 2 }, (_, i) => [list[2 * i], list[2 * i + 1]])

t.test('the upstream headers less hop-by-hop ones, then the decision', async t => {
  for (const connection of [undefined, 'keep-alive', 'close']) {
    const head = clientResponseHead({ 'content-type': 'application/json', 'set-cookie': ['a=1', 'b=2'], 'keep-alive': 'timeout=5', connection, 'x-missing': undefined }, 'new', 'acme', 'percent')
    t.same(pairs(head), [
      ['content-type', 'application/json'], ['set-cookie', ['a=1', 'b=2']],
      ['x-dualread-served-by', 'new'], ['x-dualread-rule', 'acme'], ['x-dualread-reason', 'percent'],
    ], `connection: ${connection}`)
  }
})

t.test('headers the upstream names in Connection stop here', async t => {
  const head = clientResponseHead({ connection: 'keep-alive, X-Private-Hop', 'x-private-hop': '1', etag: '"7"' }, 'old', 'default', 'rule')
  t.same(pairs(head).map(([name]) => name), ['etag', 'x-dualread-served-by', 'x-dualread-rule', 'x-dualread-reason'])
})

t.test("an upstream's own decision headers are replaced, never sent twice", async t => {
  const head = clientResponseHead({ 'x-dualread-served-by': 'new', 'x-dualread-rule': 'forged', 'x-dualread-reason': 'fallback', etag: '"7"' }, 'old', 'default', 'rule')
  t.same(pairs(head), [['etag', '"7"'], ['x-dualread-served-by', 'old'], ['x-dualread-rule', 'default'], ['x-dualread-reason', 'rule']])
})
