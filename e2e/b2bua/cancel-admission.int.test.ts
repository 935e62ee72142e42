import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import type { SipRequest, SipResponse } from '../../lib/sip/message/message.ts'
import { cdrLines, type Sbc, sbcPorts, startSbc } from './harness.ts'
import { openPeers, type Peers, startStore, type TestStore } from './two-processes.ts'
import { newBranch, request, response, sipRequest, sipResponse, type UdpPeer } from './udp-peer.ts'

/**
 * A CANCEL handled while the INVITE waits for admission, which then refuses the call (the callee
 * group is full): the caller got 200 to the CANCEL and 487 to the INVITE, so the CDR must say the
 * caller cancelled — not that admission refused. One `kube-sbc run --redis` process; the order is
 * made deterministic by stopping it (SIGSTOP) while both the INVITE and its CANCEL are put in its
 * socket buffer: once continued, it reads the INVITE, asks Redis for a slot, and reads the CANCEL
 * before Redis's answer can arrive. Caller and callee are bare UDP sockets of this test.
 */
describe('B2BUA: CANCEL while the INVITE is admitted, then refused by admission', function () {
  this.timeout(60_000)
  let store: TestStore
  let peers: Peers
  let sbc: Sbc
  let caller: UdpPeer
  let callee: UdpPeer
  let uacPort: number
  let uasPort: number
  const keys = () => store.keys()

  before(async () => {
    store = await startStore()
    peers = await openPeers()
    ;({ caller, callee, uacPort, uasPort } = peers)
    sbc = await startSbc(await sbcPorts(), uacPort, uasPort, {
      redis: store.redis.url,
      config: { maxCalls: 1 },
    })
  })
  afterEach(() => {
    // Never leave the process this test started stopped.
    if (sbc) process.kill(sbc.proc.pid, 'SIGCONT')
  })
  after(async () => {
    await sbc?.close()
    peers?.close()
    await store?.close()
  })

  const newCall = () => {
    const callId = `${randomBytes(6).toString('hex')}@cancel.test`
    const fromTag = randomBytes(4).toString('hex')
    const branch = newBranch()
    const ruri = 'sip:callee@127.0.0.1'
    const req = (method: string, to = `<${ruri}>`) =>
      sipRequest({ method, ruri, port: uacPort, branch, fromTag, to, callId, cseq: 1 })
    return { callId, req }
  }

  it('487 to the caller and a CDR saying the caller cancelled; the callee gets nothing', async () => {
    // A ringing call holds the callee group's only slot.
    const filler = newCall()
    await caller.send(filler.req('INVITE'), sbc.ports.pbx)
    const fillerB = await callee.waitFor(request('INVITE', undefined), 'the first call at the callee')
    const c = newCall()
    process.kill(sbc.proc.pid, 'SIGSTOP')
    await caller.send(c.req('INVITE'), sbc.ports.pbx)
    await caller.send(c.req('CANCEL'), sbc.ports.pbx)
    process.kill(sbc.proc.pid, 'SIGCONT')
    await caller.waitFor(response(200, c.callId, 'CANCEL'), '200 to the CANCEL')
    const cancelled = (await caller.waitFor(response(487, c.callId), '487 to the INVITE')).msg as SipResponse
    await caller.send(c.req('ACK', cancelled.header('to') ?? ''), sbc.ports.pbx)
    // The CDR is written once admission answered (the pipe may deliver it a little later).
    await sbc.proc.waitForOutput(new RegExp(`"sipCallId":"${c.callId}"`), 10_000)
    const cdrs = cdrLines(sbc.proc.output()).filter(
      (l) => (l.legA as { sipCallId?: string }).sipCallId === c.callId,
    )
    assert.deepEqual(
      cdrs.map((l) => [l.finalCode, l.hangup]),
      [[487, { by: 'caller', reason: 'cancel' }]],
    )
    await sbc.proc.waitForOutput(
      new RegExp(`"callId":"${c.callId}"[^\\n]*Cancelled call while it was admitted`),
      10_000,
    )
    assert.deepEqual(
      caller
        .all((m) => m.callId === c.callId && (m as SipResponse).status >= 200)
        .map((r) => (r.msg as SipResponse).status),
      [200, 487],
      'nothing else on the wire: no 503',
    )
    assert.equal(callee.all(request('INVITE')).length, 1, 'the callee got the first call only')
    // The first call ends busy; nothing is left.
    await callee.send(
      sipResponse(fillerB.msg as SipRequest, 486, 'Busy Here', 'callee1', uasPort),
      fillerB.port,
    )
    const busy = (await caller.waitFor(response(486, filler.callId), '486 at the caller')).msg as SipResponse
    await caller.send(filler.req('ACK', busy.header('to') ?? ''), sbc.ports.pbx)
    for (let i = 0; i < 400 && (await keys()).length > 0; i++) await new Promise((r) => setTimeout(r, 25))
    assert.deepEqual(await keys(), [])
  })
})
