import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { createConnection, createServer, type Server, type Socket } from 'node:net'
import type { SipRequest, SipResponse } from '../../lib/sip/message/message.ts'
import { scripts } from '../../lib/state/redis-scripts.ts'
import { RedisStore } from '../../lib/state/redis-store.ts'
import { type Sbc, sbcPorts, startSbc } from './harness.ts'
import { openPeers, type Peers, startStore, type TestStore, until } from './two-processes.ts'
import { newBranch, request, response, sipRequest, sipResponse } from './udp-peer.ts'

/**
 * A TCP relay between one SBC process and redis-server that, once `before(marker, action)` is set,
 * runs `action` when the process's bytes toward Redis next contain `marker` and forwards those
 * bytes (and what follows on that connection) only once `action` is done. The SBC's command
 * deadline (80 ms) runs meanwhile, so `action` is one store round trip on loopback.
 */
async function redisRelay(redisPort: number) {
  let pending: { marker: string; action: () => Promise<void>; hit?: Promise<void> } | undefined
  const sockets = new Set<Socket>()
  const server: Server = createServer((client) => {
    const upstream = createConnection(redisPort, '127.0.0.1')
    sockets.add(client).add(upstream)
    upstream.on('data', (d) => client.write(d))
    let queue = Promise.resolve()
    let tail = ''
    client.on('data', (d) => {
      const text = d.toString('latin1')
      const p = pending
      if (p && !p.hit && (tail + text).includes(p.marker)) {
        p.hit = p.action()
        const held = p.hit
        queue = queue.then(() => held)
      }
      tail = text.slice(-64)
      queue = queue.then(() => void upstream.write(d))
    })
    for (const s of [client, upstream]) {
      s.on('error', () => {})
      s.on('close', () => {
        client.destroy()
        upstream.destroy()
      })
    }
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as { port: number }).port
  return {
    url: `redis://127.0.0.1:${port}`,
    before(marker: string, action: () => Promise<void>) {
      pending = { marker, action }
    },
    /** Resolves once the marker was seen and its action ran. */
    async hit(): Promise<void> {
      await until('the marked command', async () => pending?.hit !== undefined)
      await pending?.hit
    },
    close() {
      for (const s of sockets) s.destroy()
      server.close()
    },
  }
}

/**
 * An in-dialog request whose call ends between its look-up and its write (a BYE through another
 * process, a hang-up) gets 481 like one that finds no call (RFC 3261 §12.2.2), and is not relayed.
 * The real race, forced: one `kube-sbc run --redis` process whose Redis connection goes through
 * {@link redisRelay}; when the process sends the INFO's `sbcUpdateCall`, the test first ends the
 * call in Redis with the BYE's own script (`endByLeg`, the one round trip a BYE through another
 * process makes), then lets the write through. Caller and callee are bare UDP sockets.
 */
describe('B2BUA: an in-dialog request whose call a BYE removes meanwhile', function () {
  this.timeout(60_000)
  let store: TestStore
  let relay: Awaited<ReturnType<typeof redisRelay>>
  let peers: Peers
  let sbc: Sbc
  let other: RedisStore
  const ruri = 'sip:callee@127.0.0.1'
  const updateSha = createHash('sha1').update(scripts.sbcUpdateCall.lua).digest('hex')

  before(async () => {
    store = await startStore()
    relay = await redisRelay(Number(new URL(store.redis.url).port))
    peers = await openPeers()
    sbc = await startSbc(await sbcPorts(), peers.uacPort, peers.uasPort, { redis: relay.url })
    other = new RedisStore({ url: store.redis.url, commandTimeoutMs: 5_000 })
    // EVALSHA from the first use on: the marker is in the command the SBC sends.
    await store.client.script('LOAD', scripts.sbcUpdateCall.lua)
  })
  after(async () => {
    await sbc?.close()
    await other?.close()
    relay?.close()
    peers?.close()
    await store?.close()
  })

  it('gets 481, is not relayed, and logs no error', async () => {
    const { caller, callee, uacPort, uasPort } = peers
    const callId = `${randomBytes(6).toString('hex')}@ended.test`
    const fromTag = randomBytes(4).toString('hex')
    let to = `<${ruri}>`
    let target = ruri
    const req = (method: string, cseq: number) =>
      sipRequest({ method, ruri: target, port: uacPort, branch: newBranch(), fromTag, to, callId, cseq })
    await caller.send(req('INVITE', 1), sbc.ports.pbx)
    const inv = (await callee.waitFor(request('INVITE'), 'the B leg INVITE')) as {
      msg: SipRequest
      port: number
    }
    await callee.send(sipResponse(inv.msg, 200, 'OK', 'callee1', uasPort), inv.port)
    const ok = (await caller.waitFor(response(200, callId), '200 at the caller')).msg as SipResponse
    to = ok.header('to') ?? ''
    target = /<([^>]+)>/.exec(ok.header('contact') ?? '')?.[1] ?? ruri
    await caller.send(req('ACK', 1), sbc.ports.pbx)
    await callee.waitFor(request('ACK'), 'the ACK at the callee')

    relay.before(updateSha, async () => {
      const ended = await other.endByLeg({ callId, localTag: ok.toTag, remoteTag: fromTag }, 3)
      assert.equal(ended?.ended, true, 'the BYE script removed the call')
    })
    await caller.send(req('INFO', 2), sbc.ports.pbx)
    await relay.hit()
    const answer = (
      await caller.waitFor(
        (m) => m.callId === callId && (m as SipResponse).cseq?.method === 'INFO',
        'the answer to the INFO',
      )
    ).msg as SipResponse
    assert.equal(answer.status, 481)
    assert.equal(callee.all(request('INFO')).length, 0, 'not relayed')
    await until('no keys left', async () => (await store.keys()).length === 0)
    const errors = sbc.proc
      .output()
      .split('\n')
      .filter((l) => l.includes('"level":50') || l.includes('"level":"error"'))
    assert.deepEqual(errors, [])
  })
})
