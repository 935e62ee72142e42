import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import type { SipRequest, SipResponse } from '../../lib/sip/message/message.ts'
import type { Sbc } from './harness.ts'
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
 * The 2xx to a re-INVITE is a target refresh (RFC 3261 §12.2.1.2): its Contact becomes the remote
 * target of that leg, in the stored dialog state, so the ACK and every later request of the leg —
 * through any process — carry it as Request-URI. Two `kube-sbc run --redis` processes on one
 * redis-server, caller and callee bare UDP sockets of the test; each peer answers a re-INVITE with
 * a new Contact user, and the next requests toward it (ACK through the other process, BYE) must
 * name that user.
 */
describe('B2BUA: the 2xx of a relayed re-INVITE refreshes the remote target (two processes)', function () {
  this.timeout(60_000)
  let store: TestStore
  let peers: Peers
  let a: Sbc
  let b: Sbc
  let caller: UdpPeer
  let callee: UdpPeer
  let uacPort: number
  let uasPort: number

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

  /** `res` with its Contact user replaced by `user`. */
  const withContact = (res: string, user: string) =>
    res.replace(/Contact: <sip:[^@]+@/, `Contact: <sip:${user}@`)
  const ruriUser = (m: SipRequest) => (m.uri.kind === 'sip' ? m.uri.user : undefined)

  it('re-INVITEs both ways answered with a new Contact: the ACK and the BYE go to it', async () => {
    const callId = `${randomBytes(6).toString('hex')}@refresh.test`
    const fromTag = randomBytes(4).toString('hex')
    const ruri = 'sip:callee@127.0.0.1'
    const fromCaller = (method: string, cseq: number, to: string, target: string) =>
      sipRequest({ method, ruri: target, port: uacPort, branch: newBranch(), fromTag, to, callId, cseq })

    // The call: INVITE and ACK through A.
    await caller.send(fromCaller('INVITE', 1, `<${ruri}>`, ruri), a.ports.pbx)
    const bInv = (await callee.waitFor(request('INVITE'), 'the INVITE at the callee')).msg as SipRequest
    const bCallId = bInv.callId ?? ''
    const bPort = callee.received.find((r) => r.msg === bInv)?.port ?? 0
    await callee.send(sipResponse(bInv, 200, 'OK', 'callee1', uasPort), bPort)
    const ok = (await caller.waitFor(response(200, callId), '200 at the caller')).msg as SipResponse
    const to = ok.header('to') ?? ''
    const sbcA = /<([^>]+)>/.exec(ok.header('contact') ?? '')?.[1] ?? ruri
    await caller.send(fromCaller('ACK', 1, to, sbcA), a.ports.pbx)
    await callee.waitFor((m) => request('ACK', bCallId)(m), 'the ACK at the callee')

    // The caller's re-INVITE through A; the callee answers with a new Contact.
    await caller.send(fromCaller('INVITE', 2, to, sbcA), a.ports.pbx)
    const reB = await callee.waitFor(
      (m) => request('INVITE', bCallId)(m) && m.header('to')?.includes('tag=') === true,
      'the re-INVITE at the callee',
    )
    await callee.send(
      withContact(sipResponse(reB.msg as SipRequest, 200, 'OK', 'callee1', uasPort), 'moved'),
      reB.port,
    )
    await caller.waitFor((m) => response(200, callId)(m) && m.cseq?.seq === 2, '200 to the re-INVITE')
    // Its ACK through the other process, which knows the callee only from the store.
    await caller.send(fromCaller('ACK', 2, to, sbcA), b.ports.pbx)
    const ack2 = await callee.waitFor(
      (m) => request('ACK', bCallId)(m) && m.cseq?.seq !== 1,
      'the ACK of the re-INVITE at the callee',
    )
    assert.equal(ruriUser(ack2.msg as SipRequest), 'moved', 'ACK to the Contact of the re-INVITE 2xx')

    // The callee's re-INVITE through B; the caller answers with a new Contact.
    const sbcB = /<([^>]+)>/.exec(bInv.header('contact') ?? '')?.[1] ?? ''
    const fromCallee = (method: string, cseq: number) =>
      [
        `${method} ${sbcB} SIP/2.0`,
        `Via: SIP/2.0/UDP 127.0.0.1:${uasPort};branch=${newBranch()};rport`,
        'Max-Forwards: 70',
        `From: ${reB.msg.header('to')}`,
        `To: ${bInv.header('from')}`,
        `Call-ID: ${bCallId}`,
        `CSeq: ${cseq} ${method}`,
        `Contact: <sip:moved@127.0.0.1:${uasPort}>`,
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n')
    await callee.send(fromCallee('INVITE', 1), b.ports.carrier)
    const reA = await caller.waitFor(
      (m) => request('INVITE', callId)(m) && m.header('to')?.includes('tag=') === true,
      'the re-INVITE at the caller',
    )
    await caller.send(
      withContact(sipResponse(reA.msg as SipRequest, 200, 'OK', fromTag, uacPort), 'caller-moved'),
      reA.port,
    )
    await callee.waitFor(response(200, bCallId), '200 to the callee re-INVITE')
    await callee.send(fromCallee('ACK', 1), a.ports.carrier)
    const ackA = await caller.waitFor(
      (m) => request('ACK', callId)(m),
      'the ACK of the re-INVITE at the caller',
    )
    assert.equal(ruriUser(ackA.msg as SipRequest), 'caller-moved', 'ACK to the Contact of the caller 2xx')

    // The caller hangs up through B: the BYE reaches the callee's new Contact.
    await caller.send(fromCaller('BYE', 3, to, sbcA), b.ports.pbx)
    const bye = await callee.waitFor((m) => request('BYE', bCallId)(m), 'the BYE at the callee')
    assert.equal(ruriUser(bye.msg as SipRequest), 'moved', 'BYE to the refreshed target')
    await callee.send(sipResponse(bye.msg as SipRequest, 200, 'OK', 'callee1', uasPort), bye.port)
    await caller.waitFor(response(200, callId, 'BYE'), '200 to the BYE')
    await until('no keys left', async () => (await store.keys()).length === 0)
  })
})
