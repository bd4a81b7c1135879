import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { SecretFile } from '../../src/credentials/secret-file.ts'
import { KubeSecretVolume } from '../helpers/kube-secret.ts'
import { scratchDir } from '../helpers/scratch-dir.ts'

t.test('a Secret rotated the way the kubelet does it (a ..data symlink swap) is read again once the recheck interval has passed', async t => {
  const volume = new KubeSecretVolume(scratchDir(t), { token: 'token-one\n' })
  let now = 0
  const file = new SecretFile(volume.path('token'), { recheckMs: 1000, now: () => now })
  t.equal(await file.read(), 'token-one', 'the trailing newline is dropped')
  volume.rotate({ token: 'token-two\n' })
  now = 999
  t.equal(await file.read(), 'token-one', 'within the recheck interval the file is not looked at')
  now = 1000
  t.equal(await file.read(), 'token-two', 'after it, the swap is seen')
  volume.rotate({ token: 'token-three' })
  t.equal(await file.read(true), 'token-three', 'a fresh read looks at once')
})

t.test('a file written in place (same inode, new size or mtime) is read again too', async t => {
  const path = join(scratchDir(t), 'token')
  writeFileSync(path, 'aaaa')
  let now = 0
  const file = new SecretFile(path, { now: () => now })
  t.equal(await file.read(), 'aaaa')
  writeFileSync(path, 'bbbbbb')
  now += 5000
  t.equal(await file.read(), 'bbbbbb')
})

t.test('a file that cannot be read rejects with the reason', async t => {
  const file = new SecretFile(join(scratchDir(t), 'missing'))
  await t.rejects(file.read(), { code: 'ENOENT' })
})
