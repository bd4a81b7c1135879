// The migration's phase, from the policy's rules and the effective write authority: one row per
// step of the cutover, and the edges between them.
import t from 'tap'
import { migrationPhase, type MigrationPhase } from '../../src/policy/migration-phase.ts'
import type { Rule, Side } from '../../src/policy/schema.ts'

const rule = (over: Partial<Rule> = {}): Rule => ({ name: 'r', match: {}, primary: 'old', newPercent: 0, shadowPercent: 0, fallback: true, ...over })

const rows: Array<[string, Array<Partial<Rule>>, Side, MigrationPhase, RegExp, boolean?]> = [
  ['1. shadow: old serves, new is compared', [{ shadowPercent: 10 }], 'old', 'shadow', /old serves every read; 1 rule\(s\) shadow-read new/],
  ['shadow on one rule of two', [{ shadowPercent: 0 }, { shadowPercent: 100, fallback: false }], 'old', 'shadow', /1 rule\(s\) shadow-read/],
  ['2. fallback: nothing compared, new covers failures', [{}], 'old', 'fallback', /new serves those of 1 rule\(s\) when old fails/],
  ['new has no part in reads', [{ fallback: false }], 'old', 'old-only', /new has no part/],
  ['3. one slice primary on new', [{ primary: 'new', shadowPercent: 100 }, { shadowPercent: 10 }], 'old', 'partial-reads-on-new', /1 of 2 rule\(s\) read new/],
  ['4. a newPercent share', [{ newPercent: 10 }], 'old', 'partial-reads-on-new', /1 of 1 rule/],
  ['every rule reads new, through primary or a 100% share', [{ primary: 'new' }, { newPercent: 100 }], 'old', 'reads-on-new', /every rule reads new; writes still go to old/],
  ['5. writes on new while a rule still reads old', [{ primary: 'new' }, {}], 'new', 'writes-on-new', /writes go to new; 1 rule\(s\) still read old/],
  ['writes and reads on new, old still shadow-read', [{ primary: 'new', shadowPercent: 5, fallback: false }], 'new', 'writes-on-new', /shadow-read by 1 rule\(s\) and a fallback for 0/],
  ['writes and reads on new, old still a fallback', [{ primary: 'new' }], 'new', 'writes-on-new', /and a fallback for 1/],
  ['6. decommission-ready, the sync still copying into old', [{ primary: 'new', fallback: false }], 'new', 'decommission-ready', /the sync still copies into it .* until sync.enabled is false/],
  ['decommission-ready with the sync off', [{ primary: 'new', fallback: false }], 'new', 'decommission-ready', /nothing reads or writes old any more/, false],
  ['reads on new but writes on old is not decommission-ready', [{ primary: 'new', fallback: false }], 'old', 'reads-on-new', /writes still go to old/],
]

for (const [name, rules, authority, phase, reason, syncEnabled = true] of rows) {
  t.test(name, async t => {
    const got = migrationPhase({ rules: rules.map(r => rule(r)), sync: { enabled: syncEnabled } as never }, authority)
    t.equal(got.phase, phase)
    t.match(got.reason, reason)
  })
}
