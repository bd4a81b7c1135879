// Bench child: the reference alerting API, seeded as the parent asks (a JSON SeedOptions argument,
// "" for none) and flavoured (a JSON partial flavour).
import { startReferenceApi } from '../src/reference/index.ts'
import type { Flavour } from '../src/reference/flavours.ts'

const seed = process.argv[2] ? JSON.parse(process.argv[2]) as { tenants: string[], perType: number } : undefined
const flavour = process.argv[3] ? JSON.parse(process.argv[3]) as Partial<Flavour> : undefined
const api = await startReferenceApi({ ...(seed ? { seed } : {}), ...(flavour ? { flavour } : {}) })
if (!process.send) throw new Error('run this file through bench/run.ts')
process.on('disconnect', () => void api.close().then(() => process.exit(0)))
process.send({ port: Number(new URL(api.url).port) })
