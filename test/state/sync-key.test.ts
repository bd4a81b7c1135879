import t from 'tap'
import { parseSyncKey, syncKey } from '../../src/state/sync-key.ts'

t.test('a sync key splits back into the object it names, even with slashes and colons in its parts', async t => {
  const parts = { resourceType: 'alert-rule', tenant: 'acme/eu:1', id: 'rule:42/a' }
  t.same(parseSyncKey(syncKey(parts.resourceType, parts.tenant, parts.id)), parts)
  t.same(parseSyncKey('team'), { resourceType: 'team', tenant: '', id: '' }, 'missing parts are empty')
})
