import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import type { SipRequest } from '../../lib/sip/message/message.ts'
import { freePort } from '../../test/harness/free-port.ts'
import { carrier2Yaml, type Sbc, sbcPorts, startSbc } from './harness.ts'
import { startStore, type TestStore, until } from './two-processes.ts'
import { newInvite, request, response, sipResponse, UdpPeer } from './udp-peer.ts'

/**
 * Failover to the next target (docs/pipeline.md §3) while Redis is stalled: moving the call to the
 * alternative needs the store (the slot of the group given up, the call's new B leg), and those
 * round trips fail. The call cannot go on, but the caller must still get a final response — the
 * failure of the target it had — rather than an INVITE left unanswered (issue 4, Deliver 5: never
 * a hang). Caller and callees are bare UDP sockets of the test.
 */
describe('B2BUA: failover while Redis is stalled', function () {
  this.timeout(60_000)
  let store: TestStore
  let sbc: Sbc
  let caller: UdpPeer
  let callee: UdpPeer
  let alternative: UdpPeer
  let uacPort: number
  let uasPort: number
  let altPort: number

  before(async () => {
    store = await startStore()
    uacPort = await freePort()
    uasPort = await freePort()
    altPort = await freePort()
    caller = await UdpPeer.open(uacPort)
    callee = await UdpPeer.open(uasPort)
    alternative = await UdpPeer.open(altPort)
    // carrier (maxConcurrentCalls 20, so the call holds a slot there) first, carrier2 on 503.
    const append = `${carrier2Yaml(altPort)}---
apiVersion: sbc.kubesbc.io/v1alpha1
kind: RoutingRule
metadata: { name: pbx-failover, namespace: default }
spec:
  order: 10
  match: { sourceIPGroups: [pbx] }
  action: { route: { targets: [{ ipGroup: carrier }, { ipGroup: carrier2 }] } }
`
    sbc = await startSbc(await sbcPorts(), uacPort, uasPort, { redis: store.redis.url, config: { append } })
  })
  after(async () => {
    await sbc?.close()
    caller?.close()
    callee?.close()
    alternative?.close()
    await store?.close()
  })

  it('answers the caller with the failure of the first target, and leaves no key behind', async () => {
    const ruri = 'sip:callee@127.0.0.1'
    const callId = `${randomBytes(6).toString('hex')}@failover-store.test`
    const invite = newInvite({ ruri, port: uacPort, callId })
    await caller.send(invite, sbc.ports.pbx)
    const inv = (await callee.waitFor(request('INVITE'), 'the B leg INVITE')) as {
      msg: SipRequest
      port: number
    }
    const pid = store.redis.pid()
    process.kill(pid, 'SIGSTOP')
    try {
      await callee.send(sipResponse(inv.msg, 503, 'Service Unavailable', 'callee1', uasPort), inv.port)
      const final = await caller.waitFor(
        (m) => response(503, callId)(m) || response(500, callId)(m),
        'a final response at the caller',
      )
      assert.equal((final.msg as { status: number }).status, 503)
    } finally {
      process.kill(pid, 'SIGCONT')
    }
    // What the stalled Redis was sent runs now, in order: the call's removal and slot release last.
    await until('no call key or admission hold left', async () => (await store.keys()).length === 0)
  })
})
