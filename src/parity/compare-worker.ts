// The entry of a comparison worker thread (run by piscina; see compare-pool.ts): started with one
// policy generation's compare rules, it compares every pair it is sent against them.
import { workerData } from 'piscina'
import { comparer, type ComparePlans } from './compare-task.ts'

export default comparer(workerData as ComparePlans)
