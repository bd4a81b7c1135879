// Why a key could not be applied, as `dualread_sync_errors_total{reason}` says it: each reason
// asks the operator for something different (see the DualreadSyncErrors runbook).
import t from 'tap'
import { CredentialsRefused, PreconditionFailed, SyncHttpError, syncErrorReason } from '../../src/sync/adapter.ts'

t.test('each kind of failure has its reason', async t => {
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' })
  const cases: Array<[unknown, string]> = [
    [new CredentialsRefused('new', 'PUT', '/teams/t1', 403, 'forbidden', 'authorization'), 'credentials'],
    [new PreconditionFailed('new', 'PUT', '/teams/t1', ''), 'conflicting_writer'],
    [new Error('changed 3 times in a row', { cause: new PreconditionFailed('new', 'PUT', '/teams/t1', '') }), 'conflicting_writer'],
    [new SyncHttpError('new', 'PUT', '/teams/t1', 422, '{"error":"invalid"}'), 'rejected'],
    [new SyncHttpError('new', 'PUT', '/teams/t1', 503, 'unavailable'), 'upstream_error'],
    [refused, 'unreachable'],
    [new Error('wrapped', { cause: refused }), 'unreachable'],
    [new SyntaxError('Unexpected token < in JSON'), 'other'],
  ]
  for (const [err, reason] of cases) t.equal(syncErrorReason(err), reason, (err as Error).message)
})
