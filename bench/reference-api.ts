// Bench child: the reference alerting API, seeded as the parent asks (a JSON SeedOptions argument).
import { startReferenceApi } from '../src/reference/index.ts'

const seed = process.argv[2] ? JSON.parse(process.argv[2]) as { tenants: string[], perType: number } : undefined
const api = await startReferenceApi(seed ? { seed } : {})
if (!process.send) throw new Error('run this file through bench/run.ts')
process.on('disconnect', () => void api.close().then(() => process.exit(0)))
process.send({ port: Number(new URL(api.url).port) })
