import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { getParam } from '../../lib/sip/message/headers/params.ts'
import type { SipRequest, SipResponse } from '../../lib/sip/message/message.ts'
import { until, useTwoProcesses } from './two-processes.ts'
import { newBranch, request, response, sipRequest, sipResponse } from './udp-peer.ts'

/**
 * The re-INVITE transactions the B2BUA relays in an established call (RFC 3261 §14, §13.2.2.4).
 * Two `kube-sbc run --redis` processes on one redis-server; caller and callee are bare UDP sockets
 * of the test, so each message on the wire is one the test or an SBC sent, in the order the test
 * chose: a 2xx the callee sends again as if the ACK had been lost, an ACK arriving after the next
 * re-INVITE.
 */
describe('B2BUA: relayed re-INVITEs', function () {
  this.timeout(60_000)
  const t = useTwoProcesses()
  const ruri = 'sip:callee@127.0.0.1'

  /** An answered and ACKed call through process A; what the test needs to send in-dialog requests. */
  async function answeredCall() {
    const callId = `${randomBytes(6).toString('hex')}@reinvite.test`
    const fromTag = randomBytes(4).toString('hex')
    let to = `<${ruri}>`
    let target = ruri
    const fromCaller = (method: string, cseq: number, branch = newBranch()) =>
      sipRequest({ method, ruri: target, port: t.uacPort, branch, fromTag, to, callId, cseq })
    const earlier = t.callee.all(request('INVITE')).length
    await t.caller.send(fromCaller('INVITE', 1), t.a.ports.pbx)
    await until('the B leg INVITE', async () => t.callee.all(request('INVITE')).length > earlier)
    const inv = t.callee.all(request('INVITE'))[earlier] as { msg: SipRequest; port: number }
    const bCallId = inv.msg.callId ?? ''
    await t.callee.send(sipResponse(inv.msg, 200, 'OK', 'callee1', t.uasPort), inv.port)
    const ok = (await t.caller.waitFor(response(200, callId), '200 at the caller')).msg as SipResponse
    to = ok.header('to') ?? ''
    target = /<([^>]+)>/.exec(ok.header('contact') ?? '')?.[1] ?? ruri
    await t.caller.send(fromCaller('ACK', 1), t.a.ports.pbx)
    await t.callee.waitFor((m) => request('ACK', bCallId)(m), 'the ACK at the callee')
    /** The re-INVITE (CSeq above 1) the callee got, the `n`th (from 0). */
    const reinviteAtCallee = async (n: number) => {
      await until(`re-INVITE ${n} at the callee`, async () => reinvites().length > n)
      return reinvites()[n] as { msg: SipRequest; port: number }
    }
    const reinvites = () => t.callee.all((m) => request('INVITE', bCallId)(m) && m.cseq?.seq !== 1)
    const acksAtCallee = (seq: number | undefined) =>
      t.callee.all((m) => request('ACK', bCallId)(m) && m.cseq?.seq === seq).map((r) => r.msg as SipRequest)
    return { callId, bCallId, fromCaller, reinviteAtCallee, acksAtCallee }
  }

  const branchOf = (m: SipRequest) => (m.topVia ? getParam(m.topVia.params, 'branch') : undefined)

  it('a 2xx the callee sends again after the ACK was relayed gets that ACK again (RFC 3261 §13.2.2.4)', async () => {
    const c = await answeredCall()
    await t.caller.send(c.fromCaller('INVITE', 2), t.a.ports.pbx)
    const re = await c.reinviteAtCallee(0)
    const ok = sipResponse(re.msg, 200, 'OK', 'callee1', t.uasPort)
    await t.callee.send(ok, re.port)
    await t.caller.waitFor((m) => response(200, c.callId)(m) && m.cseq?.seq === 2, '200 to the re-INVITE')
    await t.caller.send(c.fromCaller('ACK', 2), t.a.ports.pbx)
    await until('the ACK of the re-INVITE', async () => c.acksAtCallee(re.msg.cseq?.seq).length === 1)
    // The callee did not get it (as far as it knows): its 2xx again, twice.
    for (let i = 2; i <= 3; i++) {
      await t.callee.send(ok, re.port)
      await until(`ACK ${i} of the re-INVITE`, async () => c.acksAtCallee(re.msg.cseq?.seq).length === i)
    }
    const [first, ...again] = c.acksAtCallee(re.msg.cseq?.seq)
    for (const a of again) assert.equal(branchOf(a), branchOf(first!), 'the same ACK, sent again')
    assert.equal(
      t.caller.all((m) => request('ACK')(m)).length,
      0,
      'the caller is not asked for anything (its ACK was relayed)',
    )
  })

  it("an ACK arriving after the caller's next re-INVITE keeps the CSeq of the re-INVITE it acknowledges", async () => {
    const c = await answeredCall()
    await t.caller.send(c.fromCaller('INVITE', 2), t.a.ports.pbx)
    const re2 = await c.reinviteAtCallee(0)
    await t.callee.send(sipResponse(re2.msg, 200, 'OK', 'callee1', t.uasPort), re2.port)
    await t.caller.waitFor((m) => response(200, c.callId)(m) && m.cseq?.seq === 2, '200 to re-INVITE 2')
    // The caller's ACK is late (lost, then sent again on the 2xx retransmission); its next
    // re-INVITE, sent once it had the 2xx (RFC 3261 §14.1), reaches the SBC first.
    await t.caller.send(c.fromCaller('INVITE', 3), t.a.ports.pbx)
    const re3 = await c.reinviteAtCallee(1)
    await t.caller.send(c.fromCaller('ACK', 2), t.a.ports.pbx)
    await until(
      'the ACK at the callee',
      async () => t.callee.all((m) => request('ACK', c.bCallId)(m) && m.cseq?.seq !== 1).length > 0,
    )
    const ack = t.callee.all((m) => request('ACK', c.bCallId)(m) && m.cseq?.seq !== 1)[0]!.msg
    assert.equal(ack.cseq?.seq, re2.msg.cseq?.seq, 'the CSeq of the re-INVITE whose 2xx it acknowledges')
    assert.notEqual(re3.msg.cseq?.seq, re2.msg.cseq?.seq)
  })
})
