// Loaded first in every test process (package.json, tap's node-arg). REDIS_URL says where the
// tests' Redis is (test/services.sh starts one there when none answers), and it is also what
// dualread itself reads: left in place, every proxy and sync a test starts would share that Redis
// under its policy's migration name with the tests running beside it. A test process moves it to
// DUALREAD_TEST_REDIS_URL (read by test/helpers/redis.ts), so a proxy or a sync uses Redis only
// when its test hands it the URL, as when REDIS_URL is unset.
const url = process.env['REDIS_URL']
if (url !== undefined) {
  process.env['DUALREAD_TEST_REDIS_URL'] ??= url
  delete process.env['REDIS_URL']
}
