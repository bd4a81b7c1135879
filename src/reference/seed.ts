// Deterministic, realistic content for a reference store: the same options always give the
// same objects (ids, fields, versions and updatedAt), so two runs or two stores can be compared.
import { RESOURCE_TYPES, type ResourceType } from './resource-types.ts'
import type { ReferenceStore } from './store.ts'

export interface SeedOptions {
  /** Default: acme, globex, initech, umbrella. */
  tenants?: string[]
  /** Objects of each resource type per tenant; default 20. */
  perType?: number
  /** Another number gives other content; default 1. */
  seed?: number
}

export const DEFAULT_SEED_TENANTS = ['acme', 'globex', 'initech', 'umbrella']
const DEFAULT_PER_TYPE = 20
/** updatedAt of the first seeded object; each next one is a second later. */
const SEED_EPOCH = Date.UTC(2026, 0, 1)

const SERVICES = ['checkout', 'payments', 'search', 'auth', 'inventory', 'gateway']
const SIGNALS: ReadonlyArray<readonly [string, number]> = [['cpu', 0.9], ['error-rate', 0.05], ['latency-p99', 1.5], ['queue-depth', 1000], ['disk', 0.85]]
const RECEIVERS = ['pager', 'chat', 'email', 'webhook']
const TEAMS = ['payments', 'search', 'platform', 'identity']
const PEOPLE = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank']

/** The id of the n-th (from 1) seeded object of a type: `alert-rule-0007`. */
export function seededId(type: ResourceType, n: number): string {
  return `${type}-${String(n).padStart(4, '0')}`
}

/** Fills `store` with `perType` objects of every resource type for every tenant. */
export function seedStore(store: ReferenceStore, options: SeedOptions = {}): void {
  const { tenants = DEFAULT_SEED_TENANTS, perType = DEFAULT_PER_TYPE, seed = 1 } = options
  const random = new SeededRandom(seed)
  let written = 0
  for (const tenant of tenants) {
    store.addTenant(tenant)
    for (const type of RESOURCE_TYPES) {
      for (let n = 1; n <= perType; n++) {
        const body = BUILDERS[type](random, { tenant, n })
        store.put(type, tenant, seededId(type, n), body, { updatedAt: SEED_EPOCH + 1000 * written++ })
      }
    }
  }
}

interface Slot {
  tenant: string
  /** From 1: the object's number within its type and tenant. */
  n: number
}

const BUILDERS: Record<ResourceType, (random: SeededRandom, slot: Slot) => Record<string, unknown>> = {
  'alert-rule': (random, { n }) => {
    const service = random.pick(SERVICES)
    const [signal, threshold] = random.pick(SIGNALS)
    const receivers = random.some(RECEIVERS, 1, 3)
    return {
      name: `${service} ${signal} high`,
      enabled: random.next() < 0.9,
      threshold,
      for: random.pick(['1m', '5m', '10m', '15m']),
      severity: random.pick(['critical', 'warning', 'info']),
      receivers: receivers.map(name => ({ name })),
      routing: { receiver: receivers[0] },
      owner: `team-${random.pick(TEAMS)}`,
      labels: [`service=${service}`, `env=${random.pick(['prod', 'staging'])}`],
      escalationPolicyId: seededId('escalation-policy', n),
    }
  },
  'contact-point': (random, { tenant, n }) => {
    const type = random.pick(['slack', 'pagerduty', 'webhook', 'email'])
    return {
      name: `${random.pick(RECEIVERS)}-${n}`,
      type,
      address: type === 'email' ? `oncall-${n}@${tenant}.example.com` : `https://hooks.example.com/${tenant}/${n}`,
      enabled: random.next() < 0.95,
      config: { token: `tok_${random.hex(16)}`, url: `https://${type}.example.com/${tenant}` },
      timeout: random.pick(['5s', '10s', '30s']),
    }
  },
  'escalation-policy': (random, { n }) => ({
    name: `team-${random.pick(TEAMS)} escalation ${n}`,
    steps: [
      { targets: random.some(PEOPLE, 1, 2), timeout: random.pick(['5m', '10m']) },
      { targets: [`team-${random.pick(TEAMS)}-leads`], timeout: '30m' },
    ],
    repeatInterval: random.pick(['1h', '4h']),
  }),
  route: random => ({
    receiver: random.pick(RECEIVERS),
    matchers: [`severity=${random.pick(['critical', 'warning'])}`, `service=${random.pick(SERVICES)}`],
    continue: random.next() < 0.2,
    groupWait: random.pick(['30s', '1m']),
    repeatInterval: random.pick(['1h', '4h', '12h']),
  }),
  team: (random, { n }) => {
    const members = random.some(PEOPLE, 2, 4)
    return { name: `${random.pick(TEAMS)}-${n}`, members, onCall: members[0] }
  },
}

/** mulberry32: small, fast, and the same sequence for the same seed on every machine. */
class SeededRandom {
  #state: number

  constructor(seed: number) {
    this.#state = seed >>> 0
  }

  /** In [0, 1). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0
    let x = this.#state
    x = Math.imul(x ^ (x >>> 15), x | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return ((x ^ (x >>> 14)) >>> 0) / 4_294_967_296
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!
  }

  /** Between `min` and `max` distinct items (at most all of them), consecutive from a random start. */
  some<T>(items: readonly T[], min: number, max: number): T[] {
    const count = min + Math.floor(this.next() * (max - min + 1))
    const start = Math.floor(this.next() * items.length)
    return Array.from({ length: count }, (_, i) => items[(start + i) % items.length]!)
  }

  hex(length: number): string {
    let out = ''
    while (out.length < length) out += Math.floor(this.next() * 16).toString(16)
    return out
  }
}
