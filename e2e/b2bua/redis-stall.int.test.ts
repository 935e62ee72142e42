import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { freePort } from '../../test/harness/free-port.ts'
import { monitorRedis, type RedisMonitor } from '../../test/harness/redis-monitor.ts'
import { type Sbc, sbcPorts, startSbc } from './harness.ts'
import { startStore, type TestStore, until } from './two-processes.ts'
import { newInvite, response, UdpPeer } from './udp-peer.ts'

/**
 * Issue 4, Deliver 5: with Redis stalled (SIGSTOP: the connection stays up, nothing answers) a new
 * INVITE gets its 503 within 100 ms, and the store's deadline is 80 ms. So once admission has found
 * the store not answering, nothing else may go to Redis before the 503: each further round trip
 * costs a whole deadline (the refusal used to look the caller's leg up first, 160 ms in all). What
 * the SBC sent into the stall is executed when Redis resumes, which MONITOR shows; the refusal's
 * look-up is the only command that names the caller's Call-ID (admission names the call's own id).
 */
describe('B2BUA: a new INVITE while Redis is stalled', function () {
  this.timeout(60_000)
  let store: TestStore
  let sbc: Sbc
  let caller: UdpPeer
  let uacPort: number
  let monitor: RedisMonitor
  const commands: string[] = []

  before(async () => {
    store = await startStore()
    uacPort = await freePort()
    caller = await UdpPeer.open(uacPort)
    sbc = await startSbc(await sbcPorts(), uacPort, await freePort(), { redis: store.redis.url })
    monitor = await monitorRedis(store.redis.url, (args) => commands.push(args.join(' ')))
  })
  after(async () => {
    monitor?.close()
    await sbc?.close()
    caller?.close()
    await store?.close()
  })

  it('is refused 503 by admission with no further store round trip', async () => {
    const ruri = `sip:100@127.0.0.1:${sbc.ports.pbx}`
    const callId = `${randomBytes(6).toString('hex')}@redis-stall.test`
    const pid = store.redis.pid()
    process.kill(pid, 'SIGSTOP')
    try {
      await caller.send(newInvite({ ruri, port: uacPort, callId }), sbc.ports.pbx)
      const r = await caller.waitFor(response(503, callId), '503 to the INVITE')
      assert.ok(r.msg.header('retry-after') !== undefined, 'with Retry-After')
    } finally {
      process.kill(pid, 'SIGCONT')
    }
    // Everything sent during the stall runs before this marker.
    const marker = `marker-${randomBytes(4).toString('hex')}`
    await store.client.echo(marker)
    await until('the marker in MONITOR', async () => commands.some((c) => c.includes(marker)))
    assert.ok(
      commands.some((c) => c.includes('sbc:{g:carrier}')),
      `admission asked Redis: ${commands.join(' | ')}`,
    )
    assert.deepEqual(
      commands.filter((c) => c.includes(callId)),
      [],
      'store commands naming the caller after admission found the store stalled',
    )
  })
})
