import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import type { SipRequest, SipResponse } from '../../lib/sip/message/message.ts'
import { cdrLines, type Sbc } from './harness.ts'
import {
  openPeers,
  type Peers,
  startStore,
  startTwoProcesses,
  type TestStore,
  until,
} from './two-processes.ts'
import { newBranch, request, response, sipRequest, sipResponse, type UdpPeer } from './udp-peer.ts'

/**
 * The caller's BYE on an early dialog (RFC 3261 §15: after a 18x with a To tag, before the 2xx):
 * for the B2BUA that ends the call as a CANCEL would — 200 to the BYE, 487 to the caller's INVITE,
 * CANCEL toward the callee, one CDR, no key and no admission hold left. Two `kube-sbc run --redis`
 * processes on one redis-server; caller and callee are bare UDP sockets of this test, which answer
 * only when the test says so: the order of every message is the test's.
 */
describe('B2BUA: a BYE on an early dialog', function () {
  this.timeout(60_000)
  let store: TestStore
  let peers: Peers
  let a: Sbc
  let b: Sbc
  let caller: UdpPeer
  let callee: UdpPeer
  let uacPort: number
  let uasPort: number
  const ruri = 'sip:callee@127.0.0.1'

  before(async () => {
    store = await startStore()
    peers = await openPeers()
    ;({ caller, callee, uacPort, uasPort } = peers)
    ;({ a, b } = await startTwoProcesses(store.redis.url, uacPort, uasPort))
  })
  after(async () => {
    await a?.close()
    await b?.close()
    peers?.close()
    await store?.close()
  })

  /** A call through `via` that the callee rings (180 with its tag); what the caller's BYE needs. */
  async function ringingCall(via: Sbc) {
    const callId = `${randomBytes(6).toString('hex')}@bye-early.test`
    const fromTag = randomBytes(4).toString('hex')
    const invites = () => callee.all(request('INVITE'))
    const earlier = invites().length
    const inviteBranch = newBranch()
    await caller.send(
      sipRequest({
        method: 'INVITE',
        ruri,
        port: uacPort,
        branch: inviteBranch,
        fromTag,
        to: `<${ruri}>`,
        callId,
        cseq: 1,
      }),
      via.ports.pbx,
    )
    await until('the B leg INVITE', async () => invites().length > earlier)
    const inv = invites()[earlier] as { msg: SipRequest; port: number }
    await callee.send(sipResponse(inv.msg, 180, 'Ringing', 'callee1', uasPort), inv.port)
    const ringing = (await caller.waitFor(response(180, callId), '180 at the caller')).msg as SipResponse
    const to = ringing.header('to') ?? ''
    assert.match(to, /;tag=/, 'the 180 makes an early dialog')
    const target = /<([^>]+)>/.exec(ringing.header('contact') ?? '')?.[1] ?? ruri
    const bye = sipRequest({
      method: 'BYE',
      ruri: target,
      port: uacPort,
      branch: newBranch(),
      fromTag,
      to,
      callId,
      cseq: 2,
    })
    const bCallId = inv.msg.callId
    const atCallee = (method: string) => callee.all((m) => request(method)(m) && m.callId === bCallId)
    return { callId, inv, bye, atCallee }
  }

  const cdrsOf = (callId: string) =>
    [...cdrLines(a.proc.output()), ...cdrLines(b.proc.output())].filter(
      (l) => (l.legA as { sipCallId?: string } | undefined)?.sipCallId === callId,
    ) as { hangup: { by: string; reason: string } }[]
  const holds = async () => await store.client.zrange('sbc:{g:carrier}:calls', 0, -1)

  for (const where of ['the process forwarding the INVITE', 'the other process'] as const) {
    it(`through ${where}: answered 200; the callee gets a CANCEL, the caller 487; one CDR, nothing left`, async () => {
      const { callId, inv, bye, atCallee } = await ringingCall(a)
      assert.equal((await holds()).length, 1, 'the call holds a carrier slot')
      await caller.send(bye, (where === 'the other process' ? b : a).ports.pbx)
      await caller.waitFor(response(200, callId, 'BYE'), '200 to the BYE')
      const cancel = (
        await callee.waitFor((m) => request('CANCEL')(m) && m.callId === inv.msg.callId, 'the CANCEL')
      ).msg as SipRequest
      // RFC 3261 §9.1: the CANCEL names the INVITE's transaction (its top Via).
      assert.equal(cancel.header('via'), inv.msg.header('via'))
      await callee.send(sipResponse(cancel, 200, 'OK', 'callee1', uasPort), inv.port)
      await callee.send(sipResponse(inv.msg, 487, 'Request Terminated', 'callee1', uasPort), inv.port)
      await caller.waitFor(response(487, callId), '487 to the INVITE')
      assert.equal(atCallee('BYE').length, 0, 'no BYE toward the callee')
      await until('the CDR', async () => cdrsOf(callId).length === 1)
      await until('no keys left', async () => (await store.keys()).length === 0)
      assert.deepEqual(await holds(), [])
      assert.deepEqual(cdrsOf(callId)[0]?.hangup, { by: 'caller', reason: 'cancel' })
      assert.equal(caller.all(response(503, callId)).length, 0)
    })
  }

  it("the callee's 200 crossing the CANCEL: ACK and BYE toward the callee, the caller keeps its 487; one CDR", async () => {
    const { callId, inv, bye, atCallee } = await ringingCall(a)
    await caller.send(bye, a.ports.pbx)
    await caller.waitFor(response(200, callId, 'BYE'), '200 to the BYE')
    await caller.waitFor(response(487, callId), '487 to the INVITE')
    const cancel = (
      await callee.waitFor((m) => request('CANCEL')(m) && m.callId === inv.msg.callId, 'the CANCEL')
    ).msg as SipRequest
    // The callee answered the INVITE before it saw the CANCEL (RFC 3261 §9.1 race).
    await callee.send(sipResponse(inv.msg, 200, 'OK', 'callee1', uasPort), inv.port)
    await callee.send(
      sipResponse(cancel, 481, 'Call/Transaction Does Not Exist', 'callee1', uasPort),
      inv.port,
    )
    await until(
      'the ACK and the BYE at the callee',
      async () => atCallee('ACK').length > 0 && atCallee('BYE').length > 0,
    )
    const byeToCallee = atCallee('BYE')[0]!
    await callee.send(
      sipResponse(byeToCallee.msg as SipRequest, 200, 'OK', 'callee1', uasPort),
      byeToCallee.port,
    )
    await until('the CDR', async () => cdrsOf(callId).length === 1)
    await until('no keys left', async () => (await store.keys()).length === 0)
    assert.deepEqual(await holds(), [])
    assert.deepEqual(cdrsOf(callId)[0]?.hangup, { by: 'caller', reason: 'cancel' })
    assert.equal(caller.all(response(200, callId)).length, 0, 'no 2xx to the caller')
    // A late CDR would show by now: the ACK/BYE path writes it once.
    await new Promise((r) => setTimeout(r, 300))
    assert.equal(cdrsOf(callId).length, 1)
  })
})
