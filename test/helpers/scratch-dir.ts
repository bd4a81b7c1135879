// A test's own folder that outlives the servers and processes the test started in it.
//
// tap removes a `t.testdir()` folder when the test ends, but before the test's teardowns run
// whenever `testdir` was called before the first `t.teardown` (each plugin wraps the end of the
// test, and the one that wraps last runs first). A sync, a proxy or a state file that a teardown
// stops is then still writing into a folder being removed: ENOTEMPTY, or a test that never ends.
// Registering a teardown first makes the removal wait for all of them.
interface FixtureTest<C> {
  teardown(fn: () => unknown): void
  testdir(content?: C): string
}

export function scratchDir<C>(t: FixtureTest<C>, content?: C): string {
  t.teardown(() => {})
  return t.testdir(content)
}
