// The entry of a comparison worker thread, as piscina loads it (see compare-pool.ts).
export { compareInWorker as default } from './compare-task.ts'
