import assert from 'node:assert/strict'
import { Redis } from 'ioredis'
import { startRedis, type TestRedis } from './redis.ts'
import { monitorRedis, parseMonitorLine } from './redis-monitor.ts'

describe('test harness: MONITOR on a bare socket', function () {
  this.timeout(20_000)
  let redis: TestRedis
  let client: Redis
  before(async () => {
    redis = await startRedis()
    client = new Redis(redis.url, { maxRetriesPerRequest: 1 })
  })
  after(async () => {
    client?.disconnect()
    await redis?.close()
  })

  it('parses quoted arguments with Redis escapes, and the source', () => {
    assert.deepEqual(parseMonitorLine('+1795807718.010329 [0 127.0.0.1:39086] "info"'), {
      args: ['info'],
      source: '127.0.0.1:39086',
    })
    assert.deepEqual(parseMonitorLine('+1.2 [0 lua] "set" "a \\"b\\"\\\\" "\\r\\n\\x00\\xff"'), {
      args: ['set', 'a "b"\\', '\r\n\x00\xff'],
      source: 'lua',
    })
    assert.equal(parseMonitorLine('+OK'), undefined)
  })

  it('sees what a real redis-server ran, in order, arguments exact', async () => {
    const seen: string[][] = []
    const monitor = await monitorRedis(redis.url, (args) => seen.push(args))
    try {
      await client.set('k', 'say "hi"\n and space')
      await client.echo('done')
      const deadline = Date.now() + 5000
      while (!seen.some((a) => a[1] === 'done') && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 20))
      assert.deepEqual(
        seen.filter((a) => a[0] === 'set' || a[0] === 'echo'),
        [
          ['set', 'k', 'say "hi"\n and space'],
          ['echo', 'done'],
        ],
      )
    } finally {
      monitor.close()
    }
  })

  it('fails clearly when the server refuses MONITOR', async () => {
    const locked = await startRedis({ password: 'secret' })
    try {
      await assert.rejects(
        monitorRedis(locked.url, () => {}),
        /MONITOR refused: -NOAUTH/,
      )
    } finally {
      await locked.close()
    }
  })
})
