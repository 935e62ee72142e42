import assert from 'node:assert/strict'
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SecretWatcher } from './secret-watcher.ts'

/** Resolves on the next onChange, or rejects after `ms` (a bound, not a timing assertion). */
function nextChange(changes: (() => void)[], ms = 10_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no change reported')), ms)
    changes.push(() => {
      clearTimeout(t)
      resolve()
    })
  })
}

/** One kubelet-style update: a new timestamped folder, then `..data` renamed onto it. */
async function kubeletWrite(dir: string, version: string, value: string): Promise<void> {
  await mkdir(join(dir, version), { recursive: true })
  await writeFile(join(dir, version, 'tls.crt'), value)
  await symlink(version, join(dir, '..data_tmp'))
  await rename(join(dir, '..data_tmp'), join(dir, '..data'))
}

describe('SecretWatcher', function () {
  this.timeout(20_000)
  let root: string
  let watcher: SecretWatcher | undefined
  const waiters: (() => void)[] = []
  let calls = 0

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'sbc-watch-'))
    calls = 0
  })
  afterEach(async () => {
    watcher?.close()
    await rm(root, { recursive: true, force: true })
  })

  const start = () =>
    new SecretWatcher({
      dir: root,
      settleMs: 50,
      pollMs: 0,
      onChange: () => {
        calls++
        waiters.shift()?.()
      },
    })

  it('reports a kubelet ..data swap in a watched Secret', async () => {
    await kubeletWrite(join(root, 'sbc-tls'), '..v1', 'one')
    watcher = start()
    watcher.watch(['sbc-tls'])
    assert.deepEqual(watcher.watching, ['sbc-tls'])
    const changed = nextChange(waiters)
    await kubeletWrite(join(root, 'sbc-tls'), '..v2', 'two')
    await changed
    assert.ok(calls >= 1)
  })

  it('drops the Secrets a new config no longer names and keeps reporting the others', async () => {
    await kubeletWrite(join(root, 'a'), '..v1', 'a')
    await kubeletWrite(join(root, 'b'), '..v1', 'b')
    watcher = start()
    watcher.watch(['a', 'b'])
    watcher.watch(['a'])
    assert.deepEqual(watcher.watching, ['a'])
    const changed = nextChange(waiters)
    await kubeletWrite(join(root, 'a'), '..v2', 'a2')
    await changed
  })

  it('starts watching a named Secret whose folder appears later', async () => {
    watcher = start()
    watcher.watch(['late'])
    assert.deepEqual(watcher.watching, [])
    const changed = nextChange(waiters)
    await kubeletWrite(join(root, 'late'), '..v1', 'x')
    await changed
    assert.deepEqual(watcher.watching, ['late'])
  })
})
