// Read-your-writes across the fleet: a write through any replica pins reads of its tenant and
// resource type to the authority on every replica (through the state store's signals), until the
// sync says it has applied the write or the window ends. The pin is sent as the write is
// answered, not awaited: a replica hears it within Redis's delivery time (well under a
// millisecond on one network); while Redis is away, each replica pins only its own writes.
import type { SyncSignals } from '../state/signals.ts'
import type { Condition, ConditionLog } from '../telemetry/condition-log.ts'
import type { ReadYourWrites } from './read-your-writes.ts'
import type { WriteEvent } from './server.ts'

const unshared = (): Condition => ({
  fields: {},
  began: 'cannot share a write with the other replicas: reads of its slice through them are not pinned to the authority (this replica\'s are)',
  summary: (n, s) => `${n} more writes were not shared with the other replicas (last ${s} s)`,
  ended: n => `writes are shared with the other replicas again (${n} were not)`,
})

export interface FleetPins {
  /** Tells the other replicas of a write this one forwarded; never rejects. */
  share(write: WriteEvent): void
  stop(): Promise<void>
}

/** Listens for the fleet's writes and pins their slices in `ryw` for `windowMs()`. */
export async function followFleetWrites(signals: Pick<SyncSignals, 'publishWritten' | 'onWritten'>, ryw: ReadYourWrites, windowMs: () => number, conditions: ConditionLog): Promise<FleetPins> {
  const stop = await signals.onWritten((resourceType, tenant, at) => ryw.record(tenant === '' ? undefined : tenant, resourceType, windowMs(), at))
  return {
    share: write => {
      signals.publishWritten(write.resourceType, write.tenant, write.at).then(
        () => conditions.end('unshared'),
        () => conditions.event('unshared', unshared),
      )
    },
    stop,
  }
}
