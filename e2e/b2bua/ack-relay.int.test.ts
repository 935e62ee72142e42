import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { getParam } from '../../lib/sip/message/headers/params.ts'
import type { SipRequest, SipResponse } from '../../lib/sip/message/message.ts'
import { cdrLines } from './harness.ts'
import { until, useTwoProcesses } from './two-processes.ts'
import { newBranch, request, response, sipRequest, sipResponse } from './udp-peer.ts'

/**
 * The caller's ACK of a 2xx reaching another signalling process than the one that sent the 2xx
 * (docs/b2bua.md, "Multi-process"): two `kube-sbc run --redis` processes on one redis-server, caller
 * and callee bare UDP sockets of this test (no retransmissions, no automatic ACKs, so every message
 * on the wire is one this test or an SBC sent). INVITE through A, 200 from the callee, ACK through B.
 * B relays the ACK; A, which retransmits its 200 over UDP at T1, 2·T1, 4·T1 ... until it learns of
 * the ACK (RFC 3261 §13.3.1.4), must stop at once instead of after 64·T1.
 */
describe('B2BUA across two processes: the ACK of a 2xx through the other process', function () {
  this.timeout(60_000)
  const t = useTwoProcesses()
  const keys = () => t.store.keys()
  const branchOf = (m: SipRequest) => (m.topVia ? getParam(m.topVia.params, 'branch') : undefined)

  it('INVITE via A, ACK via B: one ACK at the callee, A stops its 200 retransmissions; re-ACK of a retransmitted 200; BYE via B', async () => {
    const callId = `${randomBytes(6).toString('hex')}@ack.test`
    const fromTag = randomBytes(4).toString('hex')
    const ruri = 'sip:callee@127.0.0.1'
    const req = (method: string, cseq: number, to: string, target = ruri) =>
      sipRequest({ method, ruri: target, port: t.uacPort, branch: newBranch(), fromTag, to, callId, cseq })
    await t.caller.send(req('INVITE', 1, `<${ruri}>`), t.a.ports.pbx)
    const bInv = (await t.callee.waitFor(request('INVITE'), 'the B leg INVITE')) as {
      msg: SipRequest
      port: number
    }
    const bCallId = bInv.msg.callId
    const twoHundreds = () => t.caller.all(response(200, callId)).length
    const acks = () => t.callee.all((m) => request('ACK')(m) && m.callId === bCallId)

    // The callee answers once (it is a bare socket: it never retransmits unless told to).
    await t.callee.send(sipResponse(bInv.msg, 200, 'OK', 'callee1', t.uasPort), bInv.port)
    const ok = (await t.caller.waitFor(response(200, callId), '200 at the caller')).msg as SipResponse
    const to = ok.header('to') ?? ''
    const target = /<([^>]+)>/.exec(ok.header('contact') ?? '')?.[1] ?? ruri
    // ACK at once, through B. A sent the first 200 only: its first retransmission is due T1 later.
    const before = twoHundreds()
    await t.caller.send(req('ACK', 1, to, target), t.b.ports.pbx)
    const ack = (
      await t.callee.waitFor((m) => request('ACK')(m) && m.callId === bCallId, 'the ACK at the callee')
    ).msg as SipRequest
    await t.a.proc.waitForOutput(
      new RegExp(`"callId":"${callId}"[^\\n]*ACK relayed by another process`),
      10_000,
    )
    // Past T1 + 2·T1 + 1 s after the ACK (retransmissions at 0.5 and 1.5 s, the next at 3.5 s): A
    // still retransmitting would have sent two more by now. One at most may have left A while B's
    // notice was on its way.
    await new Promise((r) => setTimeout(r, 2500))
    assert.ok(twoHundreds() - before <= 1, `200s after the ACK: ${twoHundreds() - before}`)
    assert.equal(acks().length, 1, 'the callee got the ACK once')

    // The callee did not get the ACK, as far as it knows: it retransmits its 200 to A, whose INVITE
    // client transaction sends the ACK B relayed again (RFC 3261 §13.2.2.4), byte for byte (B's Via).
    await t.callee.send(sipResponse(bInv.msg, 200, 'OK', 'callee1', t.uasPort), bInv.port)
    await until('a second ACK at the callee', async () => acks().length === 2)
    assert.equal(branchOf(acks()[1]?.msg as SipRequest), branchOf(ack), 'the same ACK again')

    // BYE through B: relayed, answered, and the call gone from Redis with one CDR.
    await t.caller.send(req('BYE', 2, to, target), t.b.ports.pbx)
    const bye = await t.callee.waitFor(
      (m) => request('BYE')(m) && m.callId === bCallId,
      'the BYE at the callee',
    )
    await t.callee.send(sipResponse(bye.msg as SipRequest, 200, 'OK', 'callee1', t.uasPort), bye.port)
    await t.caller.waitFor(response(200, callId, 'BYE'), '200 to the BYE at the caller')
    await t.b.proc.waitForOutput(new RegExp(`"sipCallId":"${callId}"`), 10_000)
    await until('no keys left', async () => (await keys()).length === 0)
    const cdrs = [...cdrLines(t.a.proc.output()), ...cdrLines(t.b.proc.output())].filter(
      (l) => (l.legA as { sipCallId?: string }).sipCallId === callId,
    )
    assert.deepEqual(
      cdrs.map((l) => [l.finalCode, (l.hangup as { reason?: string }).reason]),
      [[200, 'bye']],
    )
    assert.equal(acks().length, 2, 'no ACK but the two')
  })
})
