import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import type { SipRequest, SipResponse } from '../../lib/sip/message/message.ts'
import { cdrLines, type Sbc } from './harness.ts'
import { until, useTwoProcesses } from './two-processes.ts'
import { newBranch, request, response, sipRequest, sipResponse } from './udp-peer.ts'

/**
 * An INVITE retransmission that a load balancer sends to another signalling process than the first
 * copy (docs/b2bua.md, "Multi-process"): two `kube-sbc run --redis` processes on one redis-server,
 * a caller and a callee that are bare UDP sockets of this test. The caller's INVITE goes to A; once
 * A has sent the INVITE on to the callee (the call is stored), the byte-identical INVITE goes to B.
 * B must not refuse it (the caller would get a final response while A's call rings on) nor make a
 * second call of it; the call then goes on through either process. A merged request (same CSeq,
 * another branch, RFC 3261 §8.2.2.2) gets 482 and a second INVITE with another CSeq 500, both from B.
 * The callee group allows 2 calls, so the copy passes admission on B (then collides in the store)
 * in the first case and is refused by it (the group is full) in the second.
 */
describe('B2BUA across two processes: an INVITE retransmission reaching the other process', function () {
  this.timeout(60_000)
  const t = useTwoProcesses({ sbc: { config: { maxCalls: 2 } } })
  const keys = () => t.store.keys()
  /** Lines of `proc`'s output naming `callId` and `text`. */
  const logged = (sbc: Sbc, callId: string, text: string) =>
    sbc.proc.waitForOutput(new RegExp(`"callId":"${callId}"[^\\n]*${text}`), 10_000)

  afterEach(() => {
    // Never leave a process this test started stopped.
    if (t.b) process.kill(t.b.proc.pid, 'SIGCONT')
  })

  /** A new call's identity and its INVITE's bytes. */
  const newCall = (user = 'callee') => {
    const c = {
      callId: `${randomBytes(6).toString('hex')}@dup.test`,
      fromTag: randomBytes(4).toString('hex'),
      branch: newBranch(),
      ruri: `sip:${user}@127.0.0.1`,
    }
    const invite = (o: { branch?: string; cseq?: number } = {}) =>
      sipRequest({
        method: 'INVITE',
        ruri: c.ruri,
        port: t.uacPort,
        branch: o.branch ?? c.branch,
        fromTag: c.fromTag,
        to: `<${c.ruri}>`,
        callId: c.callId,
        cseq: o.cseq ?? 1,
      })
    return { ...c, invite }
  }

  /** The INVITE the callee got for the caller's call `n` (the one B leg). */
  const bInviteOf = async (sent: Set<string>) => {
    const r = await t.callee.waitFor(
      (m) => request('INVITE')(m) && !sent.has(m.callId ?? ''),
      'the B leg INVITE at the callee',
    )
    sent.add(r.msg.callId ?? '')
    return r as { msg: SipRequest; port: number }
  }
  const seenB = new Set<string>()

  /** Answers the call's B leg 200, then ACK and BYE from the caller through B; checks the end. */
  const answerAndHangUpThroughB = async (
    c: ReturnType<typeof newCall>,
    bInv: { msg: SipRequest; port: number },
    calleeTag = 'callee1',
    inviteCSeq = 1,
  ) => {
    await t.callee.send(sipResponse(bInv.msg, 180, 'Ringing', calleeTag, t.uasPort), bInv.port)
    await t.callee.send(sipResponse(bInv.msg, 200, 'OK', calleeTag, t.uasPort), bInv.port)
    await t.caller.waitFor(response(180, c.callId), '180 at the caller')
    const ok = (await t.caller.waitFor(response(200, c.callId), '200 at the caller')).msg as SipResponse
    const to = ok.header('to') ?? ''
    const target = /<([^>]+)>/.exec(ok.header('contact') ?? '')?.[1] ?? c.ruri
    const inDialog = (method: string, cseq: number) =>
      sipRequest({
        method,
        ruri: target,
        port: t.uacPort,
        branch: newBranch(),
        fromTag: c.fromTag,
        to,
        callId: c.callId,
        cseq,
      })
    await t.caller.send(inDialog('ACK', inviteCSeq), t.b.ports.pbx)
    await t.callee.waitFor((m) => request('ACK')(m) && m.callId === bInv.msg.callId, 'the ACK at the callee')
    await t.caller.send(inDialog('BYE', inviteCSeq + 10), t.b.ports.pbx)
    const bye = await t.callee.waitFor(
      (m) => request('BYE')(m) && m.callId === bInv.msg.callId,
      'the BYE at the callee',
    )
    await t.callee.send(sipResponse(bye.msg as SipRequest, 200, 'OK', calleeTag, t.uasPort), bye.port)
    await t.caller.waitFor(response(200, c.callId, 'BYE'), '200 to the BYE at the caller')
    // B relayed the BYE, so B writes the CDR (the pipe may deliver it a little later).
    await t.b.proc.waitForOutput(new RegExp(`"sipCallId":"${c.callId}"`), 10_000)
    const cdrs = [...cdrLines(t.a.proc.output()), ...cdrLines(t.b.proc.output())].filter(
      (l) => (l.legA as { sipCallId?: string }).sipCallId === c.callId,
    )
    assert.deepEqual(
      cdrs.map((l) => [l.finalCode, (l.hangup as { reason?: string }).reason]),
      [[200, 'bye']],
      'one CDR line for the call',
    )
  }

  it('copy through B after A stored the call: no answer from B, one B leg; 482 to a merged request, 500 to another CSeq; the call goes on', async () => {
    const c = newCall()
    await t.caller.send(c.invite(), t.a.ports.pbx)
    const bInv = await bInviteOf(seenB)
    await t.caller.send(c.invite(), t.b.ports.pbx)
    await logged(t.b, c.callId, 'INVITE retransmission for a call already made')
    // A merged request: the same INVITE forked upstream and arriving through another branch.
    await t.caller.send(c.invite({ branch: newBranch() }), t.b.ports.pbx)
    await t.caller.waitFor(response(482, c.callId), '482 to the merged request')
    // Another INVITE with the same Call-ID and From tag while the first one's call is up.
    await t.caller.send(c.invite({ branch: newBranch(), cseq: 2 }), t.b.ports.pbx)
    const e = (await t.caller.waitFor(response(500, c.callId), '500 to the second INVITE')).msg as SipResponse
    assert.match(e.header('retry-after') ?? '', /^([0-9]|10)$/)
    assert.deepEqual(
      t.caller
        .all((m) => m.callId === c.callId && (m as SipResponse).status >= 200)
        .map((r) => (r.msg as SipResponse).status),
      [482, 500],
      'no final response to the INVITE itself',
    )
    assert.equal(t.callee.all(request('INVITE')).filter((r) => r.msg.callId === bInv.msg.callId).length, 1)
    assert.equal(t.callee.all(request('INVITE')).length, seenB.size, 'no second B leg')
    await answerAndHangUpThroughB(c, bInv)
    await until('no keys left', async () => (await keys()).length === 0)
  })

  it('a merged request after a PRACK still gets 482 (the PRACK moved the caller CSeq on)', async () => {
    const c = newCall()
    await t.caller.send(c.invite({ cseq: 10 }), t.a.ports.pbx)
    const bInv = await bInviteOf(seenB)
    // A reliable 183 from the callee (RFC 3262), PRACKed by the caller with CSeq 11.
    const reliable = sipResponse(bInv.msg, 183, 'Session Progress', 'callee4', t.uasPort).replace(
      'Content-Length: 0',
      'Require: 100rel\r\nRSeq: 1\r\nContent-Length: 0',
    )
    await t.callee.send(reliable, bInv.port)
    const r183 = (await t.caller.waitFor(response(183, c.callId), '183 at the caller')).msg as SipResponse
    const prack = sipRequest({
      method: 'PRACK',
      ruri: /<([^>]+)>/.exec(r183.header('contact') ?? '')?.[1] ?? c.ruri,
      port: t.uacPort,
      branch: newBranch(),
      fromTag: c.fromTag,
      to: r183.header('to') ?? '',
      callId: c.callId,
      cseq: 11,
    }).replace('Content-Length: 0', 'RAck: 1 10 INVITE\r\nContent-Length: 0')
    await t.caller.send(prack, t.a.ports.pbx)
    const bPrack = await t.callee.waitFor(
      (m) => request('PRACK')(m) && m.callId === bInv.msg.callId,
      'the PRACK at the callee',
    )
    await t.callee.send(sipResponse(bPrack.msg as SipRequest, 200, 'OK', 'callee4', t.uasPort), bPrack.port)
    await t.caller.waitFor(response(200, c.callId, 'PRACK'), '200 to the PRACK at the caller')
    // The INVITE forked upstream, arriving through another branch with its CSeq 10: merged.
    await t.caller.send(c.invite({ branch: newBranch(), cseq: 10 }), t.b.ports.pbx)
    await t.caller.waitFor(
      (m) => m.callId === c.callId && (m as SipResponse).status >= 300,
      'a final response to the merged request',
    )
    assert.deepEqual(
      t.caller
        .all((m) => m.callId === c.callId && (m as SipResponse).status >= 300)
        .map((r) => (r.msg as SipResponse).status),
      [482],
    )
    // The same through A, the process that holds the INVITE transaction.
    await t.caller.send(c.invite({ branch: newBranch(), cseq: 10 }), t.a.ports.pbx)
    await until('a second 482', async () => t.caller.all(response(482, c.callId)).length === 2)
    assert.equal(t.callee.all(request('INVITE')).length, seenB.size, 'no second B leg')
    await answerAndHangUpThroughB(c, bInv, 'callee4', 10)
    await until('no keys left', async () => (await keys()).length === 0)
  })

  it('copy through B while the group is full (it counts the call once): no answer from B, and the call goes on', async () => {
    // A ringing call takes one of the callee group's two slots.
    const filler = newCall()
    await t.caller.send(filler.invite(), t.a.ports.pbx)
    const fillerB = await bInviteOf(seenB)
    // The call under test takes the other: the copy on B finds the group full.
    const c = newCall()
    await t.caller.send(c.invite(), t.a.ports.pbx)
    const bInv = await bInviteOf(seenB)
    await t.caller.send(c.invite(), t.b.ports.pbx)
    await logged(t.b, c.callId, 'INVITE retransmission for a call already made')
    // Two calls held, not three (the copy holds nothing): one more call is refused.
    const third = newCall()
    await t.caller.send(third.invite(), t.b.ports.pbx)
    await t.caller.waitFor(response(503, third.callId), '503 to a third call')
    assert.deepEqual(
      t.caller.all((m) => m.callId === c.callId && (m as SipResponse).status >= 200),
      [],
      'no final response to the copied INVITE',
    )
    assert.equal(t.callee.all(request('INVITE')).length, seenB.size, 'no second B leg')
    // The filler ends busy (the caller ACKs the 486 where it came from, A).
    await t.callee.send(sipResponse(fillerB.msg, 486, 'Busy Here', 'callee2', t.uasPort), fillerB.port)
    const busy = (await t.caller.waitFor(response(486, filler.callId), '486 at the caller'))
      .msg as SipResponse
    await t.caller.send(
      sipRequest({
        method: 'ACK',
        ruri: filler.ruri,
        port: t.uacPort,
        branch: filler.branch,
        fromTag: filler.fromTag,
        to: busy.header('to') ?? '',
        callId: filler.callId,
        cseq: 1,
      }),
      t.a.ports.pbx,
    )
    await answerAndHangUpThroughB(c, bInv)
    await until('no keys left', async () => (await keys()).length === 0)
  })

  it('copy and CANCEL through B before B knows it is a copy: the CANCEL reaches A and the callee, one CDR', async () => {
    const c = newCall()
    await t.caller.send(c.invite(), t.a.ports.pbx)
    const bInv = await bInviteOf(seenB)
    await t.callee.send(sipResponse(bInv.msg, 180, 'Ringing', 'callee3', t.uasPort), bInv.port)
    await t.caller.waitFor(response(180, c.callId), '180 at the caller')
    // B is stopped while the copy and its CANCEL are put in its socket buffer: once continued it
    // reads the copy, asks Redis for a slot, and reads the CANCEL before Redis answers — it answers
    // the CANCEL itself (200, 487) as for a call it routes, then finds the copy.
    process.kill(t.b.proc.pid, 'SIGSTOP')
    await t.caller.send(c.invite(), t.b.ports.pbx)
    await t.caller.send(
      sipRequest({
        method: 'CANCEL',
        ruri: c.ruri,
        port: t.uacPort,
        branch: c.branch,
        fromTag: c.fromTag,
        to: `<${c.ruri}>`,
        callId: c.callId,
        cseq: 1,
      }),
      t.b.ports.pbx,
    )
    process.kill(t.b.proc.pid, 'SIGCONT')
    await t.caller.waitFor(response(200, c.callId, 'CANCEL'), '200 to the CANCEL')
    // A got the CANCEL from B and cancels its B leg.
    const cancel = await t.callee.waitFor(
      (m) => request('CANCEL')(m) && m.callId === bInv.msg.callId,
      'the CANCEL at the callee',
    )
    await t.callee.send(sipResponse(cancel.msg as SipRequest, 200, 'OK', 'callee3', t.uasPort), cancel.port)
    await t.callee.send(sipResponse(bInv.msg, 487, 'Request Terminated', 'callee3', t.uasPort), bInv.port)
    await t.caller.waitFor(response(487, c.callId), '487 at the caller')
    await t.a.proc.waitForOutput(new RegExp(`"sipCallId":"${c.callId}"`), 10_000)
    await until('no keys left', async () => (await keys()).length === 0)
    const cdrs = [...cdrLines(t.a.proc.output()), ...cdrLines(t.b.proc.output())].filter(
      (l) => (l.legA as { sipCallId?: string }).sipCallId === c.callId,
    )
    assert.deepEqual(
      cdrs.map((l) => [l.finalCode, l.hangup]),
      [[487, { by: 'caller', reason: 'cancel' }]],
      'one CDR line, from A',
    )
    assert.equal(t.callee.all(request('INVITE')).length, seenB.size, 'no second B leg')
  })
})
