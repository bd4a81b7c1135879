// The /ui dashboard in a real headless Chromium (Debian's /usr/bin/chromium driven by
// playwright-core): a known scenario, and the page must show its numbers, refresh by itself,
// show a rollback, ask for the token off loopback, and render the sync process's own page.
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { chromium, type Browser, type Page } from 'playwright-core'
import { seededId, startReferenceApi } from '../../src/reference/index.ts'
import { startSyncProcess } from '../../src/sidecar/sync-process.ts'
import { openStateStore } from '../../src/state/open.ts'
import { captureLog, eventually, startTestSidecar } from '../helpers/sidecar.ts'
import { scratchDir } from '../helpers/scratch-dir.ts'
import { missingFromSchema, recordStatusReads, statusReads } from './status-reads.ts'

const CHROMIUM = '/usr/bin/chromium'
/** The flags this machine needs: no sandbox as root, and no background calls to a closed network. */
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic',
  '--no-first-run', '--disable-component-update', '--disable-sync']
/** Where the screenshot is kept for people to look at (ignored by git). */
const ARTIFACTS = new URL('../../artifacts/', import.meta.url)

function policy(oldUrl: string, newUrl: string, stateDir: string): string {
  return `version: 1
upstreams:
  old: { url: ${oldUrl} }
  new: { url: ${newUrl} }
authority: old
resources:
  - type: alert-rule
    collection: /api/v1/tenants/:tenant/alert-rules
    item: /api/v1/tenants/:tenant/alert-rules/:id
    version: /version
    compare: { ignore: [/updatedAt], critical: [/enabled, /threshold, /escalationPolicyId] }
  - type: team
    collection: /api/v1/tenants/:tenant/teams
    item: /api/v1/tenants/:tenant/teams/:id
    version: /version
    compare: { ignore: [/updatedAt], unordered: { /members: null } }
rules:
  - name: acme-teams
    match: { tenants: [acme], resourceTypes: [team] }
    primary: new
    shadowPercent: 100
  - name: default
    primary: old
    shadowPercent: 100
sync:
  state: file:${stateDir}
  fullScanIntervalSec: 3600
  tenants: { list: /api/v1/tenants }
`
}

async function launch(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS })
}

const cell = (page: Page, row: string, key: string) => page.locator(`${row} [data-key="${key}"]`).first().innerText()

t.test('the dashboard shows the numbers of a known scenario, refreshes itself and shows a rollback', async t => {
  const dir = scratchDir(t)
  // The new store quietly drops escalationPolicyId: every alert rule read differs on a critical pointer.
  const old = await startReferenceApi({ seed: { tenants: ['acme', 'globex'], perType: 6 } })
  const neu = await startReferenceApi({ flavour: { dropField: 'escalationPolicyId' } })
  t.teardown(() => Promise.all([old.close(), neu.close()]))
  const policyFile = join(dir, 'policy.yaml')
  writeFileSync(policyFile, policy(old.url, neu.url, join(dir, 'state')))
  const { log } = captureLog()
  const state = await openStateStore(`file:${join(dir, 'state')}`, 'default', log)
  const sync = await startSyncProcess({ policyFile, stateDir: dir, log, admin: '127.0.0.1:0', state, statusPublishMs: 100 })
  const proxy = await startTestSidecar(t, { policyFile, stateDir: join(dir, 'proxy'), changeStore: state })
  t.teardown(async () => { await proxy.stop(); await sync.stop(); await state.close() })

  // The sync copies acme's teams first, so reads of them served by new find them there.
  await eventually(() => neu.store.get('team', 'acme', seededId('team', 6)), v => v !== undefined, 10_000)
  for (let n = 1; n <= 6; n++) await (await proxy.get(`/api/v1/tenants/globex/alert-rules/${seededId('alert-rule', n)}`)).arrayBuffer()
  for (let n = 1; n <= 4; n++) await (await proxy.get(`/api/v1/tenants/acme/teams/${seededId('team', n)}`)).arrayBuffer()
  const status = async () => (await (await fetch(`${proxy.adminUrl}/status`)).json()) as { parity: Array<{ comparisons: number }>, evidence: { slices: Array<{ window: { samples: number } }> }, sync: { leader?: boolean, progress?: Record<string, { tenantsDone: number, tenants: number }> } }
  // The fleet's numbers (readiness) are read back every second: wait for them too.
  await eventually(status, s => s.parity.reduce((n, p) => n + p.comparisons, 0) === 10 && s.evidence.slices.reduce((n, v) => n + v.window.samples, 0) === 10 && s.sync.progress?.['team']?.tenantsDone === 2, 10_000)

  const browser = await launch()
  t.teardown(() => browser.close())
  const page = await browser.newPage({ viewport: { width: 1400, height: 1600 } })
  const errors: string[] = []
  page.on('pageerror', err => errors.push(err.message))
  await recordStatusReads(page)
  await page.goto(`${proxy.adminUrl}/ui?refresh=300`)
  await page.waitForSelector('body[data-loaded="true"]')

  const alerts = '#parity [data-slice="default/alert-rule"]'
  t.equal(await cell(page, alerts, 'comparisons'), '6')
  t.equal(await cell(page, alerts, 'critical'), '6', 'every alert rule read differs critically')
  t.equal(await cell(page, alerts, 'matchRate'), '0.0%')
  const teams = '#parity [data-slice="acme-teams/team"]'
  t.equal(await cell(page, teams, 'match'), '4')
  t.equal(await cell(page, teams, 'matchRate'), '100.0%')
  t.equal(await page.locator(`${alerts} svg rect`).count() > 0, true, 'the classes over time are drawn')

  t.equal(await cell(page, '#traffic [data-slice="default/alert-rule"]', 'old'), '6')
  t.equal(await cell(page, '#traffic [data-slice="default/alert-rule"]', 'new'), '0')
  t.equal(await cell(page, '#traffic [data-slice="acme-teams/team"]', 'new'), '4', 'the slice on new is served by new')
  t.equal(await cell(page, '#pointers [data-pointer="alert-rule/escalationPolicyId"]', 'count'), '6')
  t.match(await page.locator('#pointers [data-pointer="alert-rule/escalationPolicyId"]').innerText(), /critical/)
  t.match(await page.locator('[data-breaker="old/primary"]').innerText(), /closed/)
  t.match(await page.locator('[data-rule="acme-teams"] [data-key="readiness"]').innerText(), /inconclusive.*4 of 20 comparisons/)
  t.match(await page.locator('[data-rule="acme-teams"] [data-key="gate"]').innerText(), /armed/, 'the gate watches the slice served by new')
  t.match(await page.locator('[data-rule="default"] [data-key="gate"]').innerText(), /idle/)

  t.equal(await page.locator('#samples details').count(), 6, 'one sample per differing read')
  const sample = page.locator('#samples details').first()
  await sample.locator('summary').click()
  t.match(await sample.innerText(), /remove \/escalationPolicyId[\s\S]*old: "escalation-policy-000\d"[\s\S]*new: \(absent\)/, 'the diff says what the new store lacks')

  t.match(await page.locator('#sync').innerText(), /leader/)
  t.match(await cell(page, '#migration', 'phase'), /partial-reads-on-new 1 of 2 rule\(s\) read new/, 'the migration phase, with its reason')
  t.match(await cell(page, '#migration', 'writes'), /old · epoch 1 · cutover steady/, 'writes follow the shared authority')
  t.ok(await page.locator('#migration [data-event="policy-applied"]').count() > 0, 'the record shows the policy applied')
  t.match(await cell(page, '#migration', 'decommission'), /not-ready 0 of 168 clean hours in a row/)
  t.match(await page.locator('[data-testid="fleet"]').innerText(), /readiness: the fleet's numbers \(memory, 1 replica\(s\) in the window\)/)
  t.equal(await cell(page, '#sync [data-sync-type="alert-rule"]', 'tenants'), '2/2')
  t.equal(await cell(page, '#sync [data-sync-type="team"]', 'tenants'), '2/2')

  mkdirSync(ARTIFACTS, { recursive: true })
  await page.screenshot({ path: new URL('ui-dashboard.png', ARTIFACTS).pathname, fullPage: true })

  // It refreshes by itself: more reads and a rollback appear without a reload, and an open sample stays open.
  for (let n = 1; n <= 2; n++) await (await proxy.get(`/api/v1/tenants/acme/teams/${seededId('team', n)}`)).arrayBuffer()
  await page.waitForFunction(() => document.querySelector('#parity [data-slice="acme-teams/team"] [data-key="match"]')?.textContent === '6')
  t.equal(await page.locator('#samples details[open]').count(), 1, 'the sample opened stays open across refreshes')
  const rolled = await fetch(`${proxy.adminUrl}/rollback`, { method: 'POST', body: JSON.stringify({ rule: 'acme-teams', reason: 'drill' }) })
  t.equal(rolled.status, 200)
  await page.waitForSelector('[data-testid="overrides"]')
  t.match(await page.locator('[data-testid="overrides"]').innerText(), /acme-teams \(drill\)/)
  t.match(await page.locator('[data-rule="acme-teams"] [data-key="gate"]').innerText(), /rolled back/)
  t.same(errors, [], 'no script errors')
  await readsAreInTheSchema(t, page, proxy.adminUrl, ['parity.[].samples.[].diff.[].old', 'sync.progress.team.tenantsDone', 'overrides.entries.acme-teams.reason', 'evidence.replicas'])
})

t.test('off loopback the page asks for the admin token before it shows anything', async t => {
  const dir = scratchDir(t)
  const old = await startReferenceApi({ seed: { tenants: ['acme'], perType: 1 } })
  const neu = await startReferenceApi()
  t.teardown(() => Promise.all([old.close(), neu.close()]))
  const policyFile = join(dir, 'policy.yaml')
  writeFileSync(policyFile, policy(old.url, neu.url, join(dir, 'state')).replace(/sync:[\s\S]*$/, ''))
  const proxy = await startTestSidecar(t, { policyFile, stateDir: dir, admin: '0.0.0.0:0', adminToken: 'open-sesame' })
  const port = new URL(proxy.adminUrl).port
  const browser = await launch()
  t.teardown(() => browser.close())
  const page = await browser.newPage()
  await recordStatusReads(page)
  await page.goto(`http://127.0.0.1:${port}/ui`)
  await page.waitForSelector('input[type="password"]')
  t.match(await page.locator('#what').innerText(), /token needed/)
  await page.fill('input[type="password"]', 'wrong')
  await page.click('button')
  await page.waitForFunction(() => document.querySelector('#what')?.textContent === 'the token was refused')
  await page.fill('input[type="password"]', 'open-sesame')
  await page.click('button')
  await page.waitForSelector('body[data-loaded="true"]')
  t.match(await page.locator('#sync').innerText(), /shares no state with a sync process/, 'a proxy without a sync says why the section is empty')
  t.match(await page.locator('[data-testid="traffic-table-empty"], [data-testid="parity-table-empty"]').first().innerText(), /no/)
  const schema = await (await fetch(`http://127.0.0.1:${port}/status/schema`, { headers: { authorization: 'Bearer open-sesame' } })).json() as Record<string, unknown>
  t.same(missingFromSchema(await statusReads(page), schema), [], 'a proxy without a sync: every field the page reads is in the schema')
})

t.test('the sync process serves its own page, and a stopped admin server is said, not shown as stale', async t => {
  const dir = scratchDir(t)
  const old = await startReferenceApi({ seed: { tenants: ['acme'], perType: 2 } })
  const neu = await startReferenceApi()
  t.teardown(() => Promise.all([old.close(), neu.close()]))
  const policyFile = join(dir, 'policy.yaml')
  writeFileSync(policyFile, policy(old.url, neu.url, join(dir, 'state')))
  const sync = await startSyncProcess({ policyFile, stateDir: dir, log: captureLog().log, admin: '127.0.0.1:0' })
  let stopped = false
  t.teardown(() => stopped || sync.stop())
  const browser = await launch()
  t.teardown(() => browser.close())
  const page = await browser.newPage()
  await recordStatusReads(page)
  await page.goto(`${sync.adminUrl}/ui?refresh=200`)
  await page.waitForFunction(() => document.querySelector('[data-sync-type="team"] [data-key="tenants"]')?.textContent === '1/1')
  t.match(await page.locator('#what').innerText(), /sync process/)
  t.match(await page.locator('#sync').innerText(), /leader[\s\S]*old → new/)
  t.match(await cell(page, '#migration', 'writes'), /old · epoch 1/)
  // A write cutover, asked for on this admin port: the page shows the switch and its record.
  t.equal((await fetch(`${sync.adminUrl}/cutover`, { method: 'POST', body: '{"to":"new"}' })).status, 202)
  await page.waitForFunction(() => /new · epoch 2/.test(document.querySelector('#migration [data-key="writes"]')?.textContent ?? ''), undefined, { timeout: 20_000 })
  t.match(await cell(page, '#migration', 'last-switch'), /old → new at \d\d:\d\d:\d\d, writes held \d+ ms/)
  await page.waitForSelector('#migration [data-event="cutover-switched"]')
  t.match(await page.locator('#migration [data-event="cutover-switched"]').innerText(), /cutover-switched/)
  t.match(await page.locator('#sync').innerText(), /new → old/, 'the sync now runs the other way round')
  await readsAreInTheSchema(t, page, sync.adminUrl, ['cutover.state.lastSwitch.holdMs', 'direction.from', 'progress.team.tenants'])
  await sync.stop()
  stopped = true
  await page.waitForFunction(() => /cannot reach the admin server/.test(document.querySelector('#updated')?.textContent ?? ''))
  t.pass('the page says it cannot reach the admin server')
})

/** Every field of /status the page read is in the schema /status/schema serves (and the page read `expected`, so the recording works). */
async function readsAreInTheSchema(t: Test, page: Page, adminUrl: string, expected: string[]): Promise<void> {
  const reads = await statusReads(page)
  for (const path of expected) t.ok(reads.includes(path), `the page read ${path}`)
  const schema = await (await fetch(`${adminUrl}/status/schema`)).json() as Record<string, unknown>
  t.same(missingFromSchema(reads, schema), [], `every field the page reads (${reads.length}) is in the schema`)
  t.same(missingFromSchema(['evidence.nowhere', 'parity.[].nowhere'], schema), ['evidence.nowhere', 'parity.[].nowhere'], 'a field the schema lacks is found')
}
