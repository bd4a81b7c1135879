// One /status contract: what a running proxy and sync serve is exactly the schema's document (no
// field the schema leaves out), /status/schema serves it as JSON Schema, and a CLI fed a document
// of another version (a field missing, or of another type) says so instead of crashing.
import { scratchDir } from '../helpers/scratch-dir.ts'
import t from 'tap'
import { historyReport, statusDocument, statusJsonSchema } from '../../src/status/schema.ts'
import { parseAnswer } from '../../src/status/read.ts'
import { runCli } from '../helpers/cli.ts'
import { proxyStatusFixture, Refusal, serveJson } from '../helpers/status.ts'
import { openStateStore } from '../../src/state/open.ts'
import { captureLog, eventually, startTestSidecar } from '../helpers/sidecar.ts'
import { startEmbedded, startSyncFixture } from '../helpers/sync.ts'
import { seededId } from '../../src/reference/index.ts'

t.test('a running proxy and sync serve the schema\'s document, field for field', async t => {
  const dir = scratchDir(t)
  const f = await startSyncFixture(t, dir, { old: { seed: { tenants: ['acme'], perType: 2 } } })
  const e = await startEmbedded(t, f)
  await (await e.proxy.get(`/api/v1/tenants/acme/alert-rules/${seededId('alert-rule', 1)}`)).arrayBuffer()
  const raw = async (url: string) => (await (await fetch(`${url}/status`)).json()) as Record<string, unknown>
  // With the sync's document published, and a comparison in the fleet's numbers.
  const proxy = await eventually(() => raw(e.proxy.adminUrl), s => (s['sync'] as { role?: string }).role === 'sync' && (s['evidence'] as { slices: unknown[] }).slices.length > 0, 10_000)
  // parse() drops what the schema does not declare: equal means the schema covers every field.
  t.same(statusDocument.parse(proxy), proxy, 'a proxy\'s /status is the schema\'s document')
  const sync = await raw(e.sync.adminUrl)
  t.same(statusDocument.parse(sync), sync, 'a sync process\'s /status is the schema\'s document')
  t.same(historyReport.parse(await (await fetch(`${e.proxy.adminUrl}/history`)).json()).backend, 'file')

  const served = await (await fetch(`${e.proxy.adminUrl}/status/schema`)).json() as { oneOf?: unknown[], anyOf?: unknown[] }
  t.same(served, statusJsonSchema(), 'GET /status/schema serves the schema as JSON Schema')
  t.equal((served.oneOf ?? served.anyOf)?.length, 2, 'a proxy\'s document or a sync process\'s')
})

t.test('a CLI fed a /status of another version says which fields and what to do, and exits 1', async t => {
  const { evidence, ...noEvidence } = proxyStatusFixture()
  const { slices: _slices, ...evidenceWithoutSlices } = evidence
  let status: unknown = { ...noEvidence, evidence: evidenceWithoutSlices }
  let history: unknown = { backend: 'memory', entries: [] }
  const url = await serveJson(t, path => (path === '/status' ? status : path === '/history' ? history : new Refusal(404, 'no such page')))

  const report = await runCli('report', '--admin', url)
  t.equal(report.code, 1)
  t.match(report.out, new RegExp(`^the admin server at ${url} answered a /status this dualread cannot read \\(evidence\\.slices: missing\\): is it running another version of dualread\\? Use the dualread CLI of the same version as the server\\n$`))
  t.notMatch(report.out, /TypeError|cannot reach/)

  const { parity: _parity, ...noParity } = proxyStatusFixture()
  status = { ...noParity, traffic: 'none' }
  t.match(await runCli('parity', '--admin', url), { code: 1, out: /answered a \/status this dualread cannot read \(parity: missing; traffic: Invalid input: expected array, received string\)/ })

  status = { policy: { generation: 1 } }
  t.match(await runCli('parity', '--admin', url), { code: 1, out: /answered a \/status this dualread cannot read \(role: missing\): is it running another version/ }, 'a document of a version before role was there')

  history = { entries: 'none' }
  t.match(await runCli('history', '--admin', url), { code: 1, out: /answered a \/history this dualread cannot read \(backend: missing; entries: Invalid input: expected array, received string\)/ })

  status = new Refusal(500, '{"error":"internal"}')
  t.match(await runCli('parity', '--admin', url), { code: 1, out: /^the admin server answered 500 to \/status: \{"error":"internal"\}\n$/ }, 'an error document without a detail is shown whole')
  status = proxyStatusFixture()
  history = { backend: 'memory', entries: [] }
  t.match(await runCli('report', '--admin', url), { code: 0, out: /## Signals over time\n\nNot available: the admin server answered 404 to \/evidence: no such page\n[\s\S]*the signals over time could not be read/ }, 'a server of a version without /evidence: the report stands without the signals over time')
  t.match(await runCli('parity', '--admin', url), { code: 0, out: /no shadow comparisons yet/ }, 'the same server with a document that fits')
})

t.test('an error names five fields and counts the rest', async t => {
  const e = (() => { try { return parseAnswer('http://x', '/status', statusDocument, { role: 'proxy' }) } catch (err) { return err as Error } })()
  t.match(e, { message: /cannot read \(policy: missing; migration: missing; evidence: missing; authority: missing; writes: missing and \d+ more\)/ })
  const root = (() => { try { return parseAnswer('http://x', '/history', historyReport, 'text') } catch (err) { return err as Error } })()
  t.match(root, { message: /cannot read \(\(the document\): Invalid input: expected object, received string\)/ })
})

t.test('a sync leader of another version: the proxy shows its sync section as unavailable, and why', async t => {
  const dir = scratchDir(t)
  const f = await startSyncFixture(t, dir)
  const state = await openStateStore(`file:${dir}/state`, 'default', captureLog().log)
  t.teardown(() => state.close())
  const proxy = await startTestSidecar(t, { policyFile: f.policyFile, stateDir: dir, redisUrl: null, changeStore: state })
  await state.signals.publishStatus(JSON.stringify({ role: 'sync', owner: 'an older sync' }), 60_000)
  const status = statusDocument.parse(await (await fetch(`${proxy.adminUrl}/status`)).json())
  t.match(status, { role: 'proxy', sync: { unavailable: /^the sync leader publishes a status of another version of dualread \(leader, fencingToken, direction do not fit\); upgrade the sync and the proxies to the same version$/ } })
  t.match(await (await fetch(`${proxy.adminUrl}/evidence`)).json(), { step: 'hour', slices: [] }, 'hourly unless asked')
})
