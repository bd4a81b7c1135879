// The Helm chart: what can be checked from its files alone always runs (the values' policy through
// dualread's real loader, the values schema, the templates' .Values references, no subPath), and
// with a helm binary the rendered manifests are checked the way an operator would read them.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { parse, stringify } from 'yaml'
import { parsePolicy } from '../../src/policy/parse.ts'
import { splitHostPort } from '../../src/sidecar/proxy-sidecar.ts'
import { runCli } from '../helpers/cli.ts'
import { CHART_DIR, DASHBOARD_FILE } from './dashboard.ts'
import { findHelm, render, type Container, type Manifest } from './helm.ts'
import { Ajv } from 'ajv'
import { scratchDir } from '../helpers/scratch-dir.ts'

interface Probe { httpGet: { path: string, port: string | number } }
interface Component { livenessProbe: Probe, readinessProbe: Probe }
interface ChartValues {
  api: { container: { ports: Array<{ containerPort: number }> } }
  sidecar: Component & { ports: { proxy: number, admin: number } }
  sync: Component & { adminPort: number }
  policy: { existingConfigMap: string, content: Record<string, unknown> }
  redis: { secretKey: string }
  adminToken: { secretKey: string }
}

const read = (...path: string[]) => readFileSync(join(CHART_DIR, ...path), 'utf8')
const valuesText = read('values.yaml')
const values = parse(valuesText) as ChartValues
const templates = readdirSync(join(CHART_DIR, 'templates')).map(name => ({ name, text: read('templates', name) }))
const examples = readdirSync(join(CHART_DIR, 'examples')).map(name => ({ name, text: read('examples', name) }))
const policyText = stringify(values.policy.content)

t.test('Chart.yaml is a v2 application chart whose appVersion is the package version', async t => {
  const chart = parse(read('Chart.yaml')) as { apiVersion: string, name: string, type: string, appVersion: string }
  const pkg = JSON.parse(readFileSync(join(CHART_DIR, '../../package.json'), 'utf8')) as { version: string }
  t.match(chart, { apiVersion: 'v2', name: 'dualread', type: 'application', appVersion: pkg.version })
})

t.test('the policy in values.yaml passes `dualread policy check`', async t => {
  const file = join(scratchDir(t), 'policy.yaml')
  writeFileSync(file, policyText)
  const { out, code } = await runCli('policy', 'check', file)
  t.equal(code, 0, out)
  t.match(out, /: ok \(hash [0-9a-f]+; 2 resource type\(s\), 1 rule\(s\), authority old\)/)
  t.notMatch(out, /warning/, 'and draws no warning')
})

t.test('the policy agrees with the pod: the sidecar ports on all interfaces, old is the API container on localhost', async t => {
  const result = parsePolicy(policyText, 'values.yaml (policy.content)')
  if (!result.ok) throw new Error(JSON.stringify(result.errors))
  const { policy } = result
  t.same(splitHostPort(policy.listen), { host: '0.0.0.0', port: values.sidecar.ports.proxy }, 'listen = sidecar.ports.proxy')
  t.same(splitHostPort(policy.admin), { host: '0.0.0.0', port: values.sidecar.ports.admin }, 'admin = sidecar.ports.admin (off loopback: the token is required)')
  const old = new URL(policy.upstreams.old.url)
  t.equal(old.hostname, '127.0.0.1', 'old is on localhost: the API container in the same pod')
  t.equal(Number(old.port), values.api.container.ports[0]?.containerPort, "old's port is the API container's port")
  t.not(new URL(policy.upstreams.new.url).hostname, '127.0.0.1', 'new is another service')
  t.match(policy.sync.state, /^redis:/, 'sync state in Redis (REDIS_URL from the Secret takes precedence)')
  t.not(values.sync.adminPort, values.sidecar.ports.admin, 'the sync has an admin port of its own')
})

t.test('values.yaml satisfies values.schema.json, which rejects misspelt keys, wrong types and unknown enum values', async t => {
  // allErrors, so each broken value below is reported on its own; strict, so a keyword ajv does not know is an error, not ignored.
  const validator = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true }).compile(JSON.parse(read('values.schema.json')) as object)
  const validate = (v: unknown) => validator(v) ? [] : (validator.errors ?? []).map(e => `at ${e.instancePath || '/'}: ${e.message}${e.keyword === 'additionalProperties' ? ` (${String(e.params['additionalProperty'])})` : ''}`)
  t.same(validate(values), [], 'the defaults are valid')
  const broken = (change: (v: Record<string, Record<string, unknown>>) => void) => {
    const v = parse(valuesText) as Record<string, Record<string, unknown>>
    change(v)
    return validate(v)
  }
  t.same(broken(v => { v['sidecar']!['prots'] = {} }), ['at /sidecar: must NOT have additional properties (prots)'])
  t.same(broken(v => { (v['sidecar']!['ports'] as Record<string, unknown>)['proxy'] = '8080' }), ['at /sidecar/ports/proxy: must be integer'])
  t.same(broken(v => { (v['sidecar']!['ports'] as Record<string, unknown>)['admin'] = 70000 }), ['at /sidecar/ports/admin: must be <= 65535'])
  t.same(broken(v => { v['service']!['type'] = 'Ingress' }), ['at /service/type: must be equal to one of the allowed values'])
  t.same(broken(v => { v['redis']!['url'] = 'http://redis:6379' }), ['at /redis/url: must match pattern "^$|^rediss?://"'])
  t.same(broken(v => { v['sync']!['livenessProbe'] = { exec: {} } }), ["at /sync/livenessProbe: must have required property 'httpGet'"])
})

t.test('probes: liveness on /healthz and readiness on /readyz, on the admin port', async t => {
  for (const [name, c] of [['sidecar', values.sidecar], ['sync', values.sync]] as const) {
    t.same(c.livenessProbe.httpGet, { path: '/healthz', port: 'dualread-admin' }, `${name} liveness`)
    t.same(c.readinessProbe.httpGet, { path: '/readyz', port: 'dualread-admin' }, `${name} readiness`)
  }
})

t.test('no template or example mounts the policy with subPath', async t => {
  for (const f of [...templates, ...examples]) t.notMatch(f.text, /^[\s-]*subPath\s*:/m, f.name)
  t.match(templates.find(f => f.name === '_helpers.tpl')?.text, /mountPath: \/etc\/dualread\n/, 'the policy is mounted as the directory /etc/dualread')
})

t.test('every .Values path a template uses is in values.yaml', async t => {
  const used = new Set(templates.flatMap(f => [...f.text.matchAll(/\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)/g)].map(m => m[1]!.slice(1))))
  t.ok(used.size > 40, `${used.size} paths`)
  for (const path of used) {
    let node: unknown = values
    for (const key of path.split('.')) node = typeof node === 'object' && node !== null && key in node ? (node as Record<string, unknown>)[key] : undefined
    t.not(node, undefined, `.Values.${path}`)
  }
})

t.test('the dashboard JSON parses, and its ConfigMap ships the file as it is', async t => {
  t.doesNotThrow(() => JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')))
  t.match(templates.find(f => f.name === 'dashboard-configmap.yaml')?.text, /\.Files\.Get "dashboards\/dualread\.json"/)
})

t.test('the sync Deployment runs exactly one replica, replaced with Recreate', async t => {
  const text = templates.find(f => f.name === 'sync.yaml')!.text
  t.match(text, /\n {2}replicas: 1\n {2}strategy:\n {4}type: Recreate\n/)
  t.notMatch(text, /\.Values\.sync\.replicas/, 'not configurable: one writer')
})

t.test('the README documents every value', async t => {
  const readme = read('README.md')
  const paths = Object.entries(values as unknown as Record<string, unknown>).flatMap(([key, v]) =>
    typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length > 0 ? Object.keys(v).map(child => `${key}.${child}`) : [key])
  for (const path of paths) t.match(readme, new RegExp(`\`${path.replaceAll('.', '\\.')}[\`.]`), `README.md mentions ${path}`)
})

// With helm: the rendered manifests.

const helm = findHelm()
const skip = 'missing' in helm ? helm.missing : false
const byKind = (ms: Manifest[], kind: string) => ms.filter(m => m.kind === kind)
const named = (ms: Manifest[], kind: string, name: string) => {
  const m = ms.find(m => m.kind === kind && m.metadata.name === name)
  if (!m) throw new Error(`no ${kind} ${name} among ${ms.map(m => `${m.kind}/${m.metadata.name}`).join(', ')}`)
  return m
}
const containerOf = (m: Manifest, name: string): Container => {
  const c = m.spec?.template?.spec.containers.find(c => c.name === name)
  if (!c) throw new Error(`no container ${name} in ${m.kind}/${m.metadata.name}`)
  return c
}
const env = (c: Container, name: string) => c.env?.find(e => e.name === name)
const portNamed = (c: Container, name: string | number | undefined) => c.ports?.find(p => p.name === name)?.containerPort

t.test('helm lint --strict passes for the defaults and the other shapes of the chart', { skip }, async t => {
  if ('missing' in helm) return
  t.comment(`helm ${helm.version} at ${helm.path}`)
  for (const args of [[], ['--set', 'serviceMonitor.enabled=true,prometheusRule.enabled=true'], ['--set', 'api.enabled=false', '--set', 'api.existingPodSelector.app=alerting-api', '--set', 'sync.upstreams.old=http://alerting-api:8081'],
    ['--set', 'redis.existingSecret=redis', '--set', 'adminToken.existingSecret=admin', '--set', 'policy.existingConfigMap=policy'], ['--set', 'sync.enabled=false,grafanaDashboard.enabled=false']]) {
    const r = helm.run(['lint', '--strict', CHART_DIR, ...args])
    t.equal(r.code, 0, `helm lint ${args.join(' ')}`, { output: r.stdout + r.stderr })
  }
  const r = helm.run(['lint', CHART_DIR, '--set', 'sidecar.ports.proxy=abc'])
  t.not(r.code, 0, 'the schema is enforced at install time')
  t.match(r.stdout + r.stderr, /sidecar\/ports\/proxy/)
  const notes = helm.run(['install', 'dualread', CHART_DIR, '--dry-run=client', '--namespace', 'alerting'])
  t.equal(notes.code, 0, notes.stderr)
  t.match(notes.stdout, /The policy is the ConfigMap dualread-policy\. An edit reaches every pod without a\s+restart/, 'NOTES.txt renders')
})

t.test('helm template: the objects of an install', { skip }, async t => {
  if ('missing' in helm) return
  const kinds = (ms: Manifest[]) => ms.map(m => `${m.kind}/${m.metadata.name}`).sort()
  t.same(kinds(render(helm, CHART_DIR)), [
    'ConfigMap/rel-dualread-dashboard', 'ConfigMap/rel-dualread-policy',
    'Deployment/rel-dualread', 'Deployment/rel-dualread-sync',
    'Secret/rel-dualread-admin-token', 'Secret/rel-dualread-redis',
    'Service/rel-dualread', 'Service/rel-dualread-admin', 'Service/rel-dualread-direct', 'Service/rel-dualread-sync-admin',
  ])
  t.same(byKind(render(helm, CHART_DIR, ['--set', 'serviceMonitor.enabled=true']), 'ServiceMonitor').length, 1, 'a ServiceMonitor only when enabled')
})

t.test('the sidecar: the policy directory without subPath, Redis and the token from Secrets, ports that agree everywhere', { skip }, async t => {
  if ('missing' in helm) return
  const ms = render(helm, CHART_DIR)
  const deployment = named(ms, 'Deployment', 'rel-dualread')
  const pod = deployment.spec!.template!
  t.same(pod.spec.containers.map(c => c.name), ['alerting-api', 'dualread'], 'the API container, and dualread beside it')
  const sidecar = containerOf(deployment, 'dualread')

  const mount = sidecar.volumeMounts?.find(m => m.mountPath === '/etc/dualread')
  t.match(mount, { name: 'dualread-policy', readOnly: true }, 'the policy is mounted at /etc/dualread')
  t.equal(mount?.subPath, undefined, 'as a whole directory: no subPath')
  t.same(pod.spec.volumes?.find(v => v.name === 'dualread-policy')?.configMap, { name: 'rel-dualread-policy' })
  t.equal(env(sidecar, 'DUALREAD_POLICY')?.value, '/etc/dualread/policy.yaml')
  t.ok(named(ms, 'ConfigMap', 'rel-dualread-policy').data?.['policy.yaml'], 'the ConfigMap has the key policy.yaml')

  const stateDir = env(sidecar, 'DUALREAD_STATE_DIR')?.value
  const stateMount = sidecar.volumeMounts?.find(m => m.mountPath === stateDir)
  t.ok(pod.spec.volumes?.find(v => v.name === stateMount?.name)?.emptyDir, 'the state dir is a writable emptyDir')
  t.match(sidecar.securityContext, { runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false })

  const redis = env(sidecar, 'REDIS_URL')?.valueFrom?.secretKeyRef
  const token = env(sidecar, 'DUALREAD_ADMIN_TOKEN')?.valueFrom?.secretKeyRef
  t.same(redis, { name: 'rel-dualread-redis', key: 'redis-url' })
  t.same(token, { name: 'rel-dualread-admin-token', key: 'admin-token' })
  t.equal(named(ms, 'Secret', redis!.name).stringData?.[redis!.key], 'redis://redis:6379/0')
  t.match(Buffer.from(named(ms, 'Secret', token!.name).data?.[token!.key] ?? '', 'base64').toString(), /^[A-Za-z0-9]{40}$/, 'a generated token')

  t.same(sidecar.args, ['proxy', '--listen', '0.0.0.0:8080', '--admin', '0.0.0.0:9090'])
  t.equal(portNamed(sidecar, 'dualread'), 8080, 'the proxy port is the one it listens on')
  t.equal(portNamed(sidecar, 'dualread-admin'), 9090, 'the admin port too')
  t.same(sidecar.livenessProbe?.httpGet, { path: '/healthz', port: 'dualread-admin' })
  t.same(sidecar.readinessProbe?.httpGet, { path: '/readyz', port: 'dualread-admin' })
  const service = named(ms, 'Service', 'rel-dualread')
  t.same(service.spec?.ports, [{ name: 'http', port: 80, targetPort: 'dualread', protocol: 'TCP' }], 'clients go through the sidecar')
  t.same(service.spec?.selector, deployment.spec?.selector?.matchLabels, 'the Service selects the API pods')
  t.notMatch(JSON.stringify(pod.metadata?.annotations ?? {}), /checksum/, 'no checksum annotation: policy edits are hot-reloaded, not rolled out')
})

t.test('the sync: one replica, Recreate, its own admin port and probes, the same policy ConfigMap and Secrets', { skip }, async t => {
  if ('missing' in helm) return
  const ms = render(helm, CHART_DIR)
  const sync = named(ms, 'Deployment', 'rel-dualread-sync')
  t.equal(env(containerOf(sync, 'dualread-sync'), 'DUALREAD_POLICY')?.value, '/etc/dualread/sync-policy.yaml', 'its own key of the policy ConfigMap')
  t.equal(sync.spec?.replicas, 1)
  t.same(sync.spec?.strategy, { type: 'Recreate' })
  const c = containerOf(sync, 'dualread-sync')
  t.same(c.args, ['sync', '--admin', '0.0.0.0:9091'])
  t.equal(portNamed(c, c.livenessProbe?.httpGet?.port), 9091)
  t.same([c.livenessProbe?.httpGet?.path, c.readinessProbe?.httpGet?.path], ['/healthz', '/readyz'])
  t.same(sync.spec?.template?.spec.volumes?.find(v => v.name === 'dualread-policy')?.configMap, { name: 'rel-dualread-policy' })
  t.equal(c.volumeMounts?.find(m => m.mountPath === '/etc/dualread')?.subPath, undefined)
  t.same(env(c, 'REDIS_URL')?.valueFrom?.secretKeyRef, { name: 'rel-dualread-redis', key: 'redis-url' })
  t.same(env(c, 'DUALREAD_ADMIN_TOKEN')?.valueFrom?.secretKeyRef, { name: 'rel-dualread-admin-token', key: 'admin-token' })
  t.same(named(ms, 'Service', 'rel-dualread-sync-admin').spec?.ports, [{ name: 'dualread-admin', port: 9091, targetPort: 'dualread-admin', protocol: 'TCP' }])
})

t.test('the rendered policies pass the real loader: the values policy for the sidecars, and for the sync the same with the URLs its pod reaches', { skip }, async t => {
  if ('missing' in helm) return
  const ms = render(helm, CHART_DIR)
  const data = named(ms, 'ConfigMap', 'rel-dualread-policy').data!
  const fromValues = parsePolicy(policyText, 'values.yaml')
  const sidecar = parsePolicy(data['policy.yaml']!, 'policy.yaml')
  const sync = parsePolicy(data['sync-policy.yaml']!, 'sync-policy.yaml')
  if (!fromValues.ok || !sidecar.ok || !sync.ok) throw new Error(JSON.stringify({ sidecar, sync }))
  t.same(sidecar.policy, fromValues.policy, 'policy.yaml is policy.content')
  // In its own pod the sync cannot reach the API container on 127.0.0.1: it goes through a Service to the API's own port.
  const direct = named(ms, 'Service', 'rel-dualread-direct')
  const apiPort = values.api.container.ports[0]!.containerPort
  t.same(direct.spec?.ports?.map(p => [p.port, p.targetPort]), [[apiPort, apiPort]], "the direct Service reaches the API container's port, not dualread")
  t.same(direct.spec?.selector, named(ms, 'Deployment', 'rel-dualread').spec?.selector?.matchLabels, 'on the API pods')
  t.same(sync.policy, { ...fromValues.policy, upstreams: { ...fromValues.policy.upstreams, old: { ...fromValues.policy.upstreams.old, url: `http://rel-dualread-direct.alerting.svc:${apiPort}` } } },
    'sync-policy.yaml is the same policy with the old store through that Service')
  const given = named(render(helm, CHART_DIR, ['--set', 'sync.upstreams.old=http://legacy-api:8081', '--set', 'sync.upstreams.new=http://next-api:8080']), 'ConfigMap', 'rel-dualread-policy').data!
  t.match(parse(given['sync-policy.yaml']!), { upstreams: { old: { url: 'http://legacy-api:8081' }, new: { url: 'http://next-api:8080' } } }, 'or the URLs given')
})

t.test('the dashboard ConfigMap carries the dashboard JSON, labelled for the Grafana sidecar', { skip }, async t => {
  if ('missing' in helm) return
  const cm = named(render(helm, CHART_DIR), 'ConfigMap', 'rel-dualread-dashboard')
  t.equal(cm.metadata.labels?.['grafana_dashboard'], '1')
  t.same(JSON.parse(cm.data?.['dualread.json'] ?? 'null'), JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')))
})

t.test('the ServiceMonitor scrapes both admin Services, sending the token from the Secret', { skip }, async t => {
  if ('missing' in helm) return
  const ms = render(helm, CHART_DIR, ['--set', 'serviceMonitor.enabled=true', '--set', 'serviceMonitor.labels.release=prometheus'])
  const [monitor] = byKind(ms, 'ServiceMonitor')
  t.equal(monitor?.metadata.labels?.['release'], 'prometheus')
  t.same(monitor?.spec?.endpoints?.map(e => [e.port, e.path, e.bearerTokenSecret]), [['dualread-admin', '/metrics', { name: 'rel-dualread-admin-token', key: 'admin-token' }]])
  const wanted = Object.entries(monitor?.spec?.selector?.matchLabels ?? {})
  const scraped = byKind(ms, 'Service').filter(s => wanted.every(([k, v]) => s.metadata.labels?.[k] === v))
  t.same(scraped.map(s => s.metadata.name).sort(), ['rel-dualread-admin', 'rel-dualread-sync-admin'])
  for (const s of scraped) t.ok(s.spec?.ports?.some(p => p.name === 'dualread-admin'), `${s.metadata.name} has the port`)
})

t.test('existing Secrets and an existing policy ConfigMap replace the rendered ones', { skip }, async t => {
  if ('missing' in helm) return
  const ms = render(helm, CHART_DIR, ['--set', 'redis.existingSecret=shared-redis', '--set', 'redis.secretKey=url',
    '--set', 'adminToken.existingSecret=dualread-admin', '--set', 'policy.existingConfigMap=migration-policy'])
  t.same(byKind(ms, 'Secret'), [], 'no Secret is created')
  t.same(byKind(ms, 'ConfigMap').map(m => m.metadata.name), ['rel-dualread-dashboard'], 'no policy ConfigMap is created')
  for (const d of byKind(ms, 'Deployment')) {
    const c = d.spec!.template!.spec.containers.at(-1)!
    t.same(env(c, 'REDIS_URL')?.valueFrom?.secretKeyRef, { name: 'shared-redis', key: 'url' }, d.metadata.name)
    t.same(env(c, 'DUALREAD_ADMIN_TOKEN')?.valueFrom?.secretKeyRef, { name: 'dualread-admin', key: 'admin-token' }, d.metadata.name)
    t.same(d.spec?.template?.spec.volumes?.find(v => v.name === 'dualread-policy')?.configMap, { name: 'migration-policy' }, d.metadata.name)
  }
  const given = render(helm, CHART_DIR, ['--set', 'adminToken.value=s3cret'])
  t.equal(Buffer.from(named(given, 'Secret', 'rel-dualread-admin-token').data?.['admin-token'] ?? '', 'base64').toString(), 's3cret')
  t.throws(() => render(helm, CHART_DIR, ['--set', 'redis.url=']), /set redis\.url \(redis:\/\/HOST:PORT\/DB\) or redis\.existingSecret/)
})

t.test('the stores\' credentials come from Secrets: variables by secretKeyRef, files as whole Secret directories, for the sync (and the sidecars only when they need them)', { skip }, async t => {
  if ('missing' in helm) return
  const args = ['--set', 'credentials.env[0].name=NEW_API_TOKEN,credentials.env[0].secretName=next-api,credentials.env[0].key=token',
    '--set', 'credentials.files[0].secretName=old-api,credentials.files[0].mountPath=/var/run/secrets/dualread/old']
  const ms = render(helm, CHART_DIR, args)
  const sync = named(ms, 'Deployment', 'rel-dualread-sync')
  const c = containerOf(sync, 'dualread-sync')
  t.same(env(c, 'NEW_API_TOKEN')?.valueFrom?.secretKeyRef, { name: 'next-api', key: 'token' })
  const mount = c.volumeMounts?.find(m => m.mountPath === '/var/run/secrets/dualread/old')
  t.match(mount, { name: 'dualread-credentials-0', readOnly: true })
  t.equal(mount?.subPath, undefined, 'a whole directory: the kubelet\'s ..data swap reaches it')
  t.same(sync.spec?.template?.spec.volumes?.find(v => v.name === 'dualread-credentials-0'), { name: 'dualread-credentials-0', secret: { secretName: 'old-api' } })
  const sidecar = containerOf(named(ms, 'Deployment', 'rel-dualread'), 'dualread')
  t.equal(env(sidecar, 'NEW_API_TOKEN'), undefined, 'the sidecars do not get the sync\'s credentials by default')
  t.notOk(named(ms, 'Deployment', 'rel-dualread').spec?.template?.spec.volumes?.some(v => v.name.startsWith('dualread-credentials')))
  for (const more of [['--set', 'credentials.sidecar=true'], ['--set', 'policy.content.shadow.credentials=upstream']]) {
    const d = named(render(helm, CHART_DIR, [...args, ...more]), 'Deployment', 'rel-dualread')
    const s = containerOf(d, 'dualread')
    t.same(env(s, 'NEW_API_TOKEN')?.valueFrom?.secretKeyRef, { name: 'next-api', key: 'token' }, more.join(' '))
    t.ok(s.volumeMounts?.some(m => m.mountPath === '/var/run/secrets/dualread/old') && d.spec?.template?.spec.volumes?.some(v => v.name === 'dualread-credentials-0'), more.join(' '))
  }
  const lint = helm.run(['lint', '--strict', CHART_DIR, ...args])
  t.equal(lint.code, 0, lint.stdout + lint.stderr)
  const bad = helm.run(['lint', CHART_DIR, '--set', 'credentials.files[0].secretName=x,credentials.files[0].mountPath=relative'])
  t.not(bad.code, 0, 'a mount path must be absolute')
})

t.test('for an existing Deployment, the example patch adds exactly the sidecar the chart renders', { skip }, async t => {
  if ('missing' in helm) return
  // The example is written for the release name "dualread".
  const patch = parse(examples.find(f => f.name === 'sidecar-patch.yaml')!.text) as { spec: { template: { spec: { containers: Container[], volumes: unknown[] } } } }
  const ms = render(helm, CHART_DIR, [], 'dualread')
  const deployment = named(ms, 'Deployment', 'dualread')
  t.same(patch.spec.template.spec.containers, [containerOf(deployment, 'dualread')])
  t.same(patch.spec.template.spec.volumes, deployment.spec?.template?.spec.volumes)
  const servicePatch = parse(examples.find(f => f.name === 'service-patch.yaml')!.text) as { spec: { ports: Array<{ targetPort: string }> } }
  t.equal(servicePatch.spec.ports[0]?.targetPort, 'dualread', 'the Service patch targets the sidecar port')

  t.throws(() => render(helm, CHART_DIR, ['--set', 'api.enabled=false'], 'dualread'), /with api\.enabled=false, set sync\.upstreams\.old/, 'the sync needs to be told where the old API is')
  const without = render(helm, CHART_DIR, ['--set', 'api.enabled=false', '--set', 'api.existingPodSelector.app=alerting-api', '--set', 'sync.upstreams.old=http://alerting-api-direct:8081'], 'dualread')
  t.same(byKind(without, 'Deployment').map(d => d.metadata.name), ['dualread-sync'], 'no API Deployment of its own')
  t.same(named(without, 'Service', 'dualread-admin').spec?.selector, { app: 'alerting-api' }, 'the admin Service finds the patched pods')
  t.ok(named(without, 'ConfigMap', 'dualread-policy') && named(without, 'Secret', 'dualread-redis') && named(without, 'Secret', 'dualread-admin-token'), 'the names the patch refers to')
})
