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
  let store: TestStore
  let peers: Peers
  let a: Sbc
  let b: Sbc
  let caller: UdpPeer
  let callee: UdpPeer
  let uacPort: number
  let uasPort: number
  const keys = () => store.keys()
  /** Lines of `proc`'s output naming `callId` and `text`. */
  const logged = (sbc: Sbc, callId: string, text: string) =>
    sbc.proc.waitForOutput(new RegExp(`"callId":"${callId}"[^\\n]*${text}`), 10_000)

  before(async () => {
    store = await startStore()
    peers = await openPeers()
    ;({ caller, callee, uacPort, uasPort } = peers)
    ;({ a, b } = await startTwoProcesses(store.redis.url, uacPort, uasPort, { config: { maxCalls: 2 } }))
  })
  afterEach(() => {
    // Never leave a process this test started stopped.
    if (b) process.kill(b.proc.pid, 'SIGCONT')
  })
  after(async () => {
    await a?.close()
    await b?.close()
    peers?.close()
    await store?.close()
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
        port: uacPort,
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
    const r = await callee.waitFor(
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
    await callee.send(sipResponse(bInv.msg, 180, 'Ringing', calleeTag, uasPort), bInv.port)
    await callee.send(sipResponse(bInv.msg, 200, 'OK', calleeTag, uasPort), bInv.port)
    await caller.waitFor(response(180, c.callId), '180 at the caller')
    const ok = (await caller.waitFor(response(200, c.callId), '200 at the caller')).msg as SipResponse
    const to = ok.header('to') ?? ''
    const target = /<([^>]+)>/.exec(ok.header('contact') ?? '')?.[1] ?? c.ruri
    const inDialog = (method: string, cseq: number) =>
      sipRequest({
        method,
        ruri: target,
        port: uacPort,
        branch: newBranch(),
        fromTag: c.fromTag,
        to,
        callId: c.callId,
        cseq,
      })
    await caller.send(inDialog('ACK', inviteCSeq), b.ports.pbx)
    await callee.waitFor((m) => request('ACK')(m) && m.callId === bInv.msg.callId, 'the ACK at the callee')
    await caller.send(inDialog('BYE', inviteCSeq + 10), b.ports.pbx)
    const bye = await callee.waitFor(
      (m) => request('BYE')(m) && m.callId === bInv.msg.callId,
      'the BYE at the callee',
    )
    await callee.send(sipResponse(bye.msg as SipRequest, 200, 'OK', calleeTag, uasPort), bye.port)
    await caller.waitFor(response(200, c.callId, 'BYE'), '200 to the BYE at the caller')
    // B relayed the BYE, so B writes the CDR (the pipe may deliver it a little later).
    await b.proc.waitForOutput(new RegExp(`"sipCallId":"${c.callId}"`), 10_000)
    const cdrs = [...cdrLines(a.proc.output()), ...cdrLines(b.proc.output())].filter(
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
    await caller.send(c.invite(), a.ports.pbx)
    const bInv = await bInviteOf(seenB)
    await caller.send(c.invite(), b.ports.pbx)
    await logged(b, c.callId, 'INVITE retransmission for a call already made')
    // A merged request: the same INVITE forked upstream and arriving through another branch.
    await caller.send(c.invite({ branch: newBranch() }), b.ports.pbx)
    await caller.waitFor(response(482, c.callId), '482 to the merged request')
    // Another INVITE with the same Call-ID and From tag while the first one's call is up.
    await caller.send(c.invite({ branch: newBranch(), cseq: 2 }), b.ports.pbx)
    const e = (await caller.waitFor(response(500, c.callId), '500 to the second INVITE')).msg as SipResponse
    assert.match(e.header('retry-after') ?? '', /^([0-9]|10)$/)
    assert.deepEqual(
      caller
        .all((m) => m.callId === c.callId && (m as SipResponse).status >= 200)
        .map((r) => (r.msg as SipResponse).status),
      [482, 500],
      'no final response to the INVITE itself',
    )
    assert.equal(callee.all(request('INVITE')).filter((r) => r.msg.callId === bInv.msg.callId).length, 1)
    assert.equal(callee.all(request('INVITE')).length, seenB.size, 'no second B leg')
    await answerAndHangUpThroughB(c, bInv)
    await until('no keys left', async () => (await keys()).length === 0)
  })

  it('a merged request after a PRACK still gets 482 (the PRACK moved the caller CSeq on)', async () => {
    const c = newCall()
    await caller.send(c.invite({ cseq: 10 }), a.ports.pbx)
    const bInv = await bInviteOf(seenB)
    // A reliable 183 from the callee (RFC 3262), PRACKed by the caller with CSeq 11.
    const reliable = sipResponse(bInv.msg, 183, 'Session Progress', 'callee4', uasPort).replace(
      'Content-Length: 0',
      'Require: 100rel\r\nRSeq: 1\r\nContent-Length: 0',
    )
    await callee.send(reliable, bInv.port)
    const r183 = (await caller.waitFor(response(183, c.callId), '183 at the caller')).msg as SipResponse
    const prack = sipRequest({
      method: 'PRACK',
      ruri: /<([^>]+)>/.exec(r183.header('contact') ?? '')?.[1] ?? c.ruri,
      port: uacPort,
      branch: newBranch(),
      fromTag: c.fromTag,
      to: r183.header('to') ?? '',
      callId: c.callId,
      cseq: 11,
    }).replace('Content-Length: 0', 'RAck: 1 10 INVITE\r\nContent-Length: 0')
    await caller.send(prack, a.ports.pbx)
    const bPrack = await callee.waitFor(
      (m) => request('PRACK')(m) && m.callId === bInv.msg.callId,
      'the PRACK at the callee',
    )
    await callee.send(sipResponse(bPrack.msg as SipRequest, 200, 'OK', 'callee4', uasPort), bPrack.port)
    await caller.waitFor(response(200, c.callId, 'PRACK'), '200 to the PRACK at the caller')
    // The INVITE forked upstream, arriving through another branch with its CSeq 10: merged.
    await caller.send(c.invite({ branch: newBranch(), cseq: 10 }), b.ports.pbx)
    await caller.waitFor(
      (m) => m.callId === c.callId && (m as SipResponse).status >= 300,
      'a final response to the merged request',
    )
    assert.deepEqual(
      caller
        .all((m) => m.callId === c.callId && (m as SipResponse).status >= 300)
        .map((r) => (r.msg as SipResponse).status),
      [482],
    )
    // The same through A, the process that holds the INVITE transaction.
    await caller.send(c.invite({ branch: newBranch(), cseq: 10 }), a.ports.pbx)
    await until('a second 482', async () => caller.all(response(482, c.callId)).length === 2)
    assert.equal(callee.all(request('INVITE')).length, seenB.size, 'no second B leg')
    await answerAndHangUpThroughB(c, bInv, 'callee4', 10)
    await until('no keys left', async () => (await keys()).length === 0)
  })

  it('copy through B while the group is full (it counts the call once): no answer from B, and the call goes on', async () => {
    // A ringing call takes one of the callee group's two slots.
    const filler = newCall()
    await caller.send(filler.invite(), a.ports.pbx)
    const fillerB = await bInviteOf(seenB)
    // The call under test takes the other: the copy on B finds the group full.
    const c = newCall()
    await caller.send(c.invite(), a.ports.pbx)
    const bInv = await bInviteOf(seenB)
    await caller.send(c.invite(), b.ports.pbx)
    await logged(b, c.callId, 'INVITE retransmission for a call already made')
    // Two calls held, not three (the copy holds nothing): one more call is refused.
    const third = newCall()
    await caller.send(third.invite(), b.ports.pbx)
    await caller.waitFor(response(503, third.callId), '503 to a third call')
    assert.deepEqual(
      caller.all((m) => m.callId === c.callId && (m as SipResponse).status >= 200),
      [],
      'no final response to the copied INVITE',
    )
    assert.equal(callee.all(request('INVITE')).length, seenB.size, 'no second B leg')
    // The filler ends busy (the caller ACKs the 486 where it came from, A).
    await callee.send(sipResponse(fillerB.msg, 486, 'Busy Here', 'callee2', uasPort), fillerB.port)
    const busy = (await caller.waitFor(response(486, filler.callId), '486 at the caller')).msg as SipResponse
    await caller.send(
      sipRequest({
        method: 'ACK',
        ruri: filler.ruri,
        port: uacPort,
        branch: filler.branch,
        fromTag: filler.fromTag,
        to: busy.header('to') ?? '',
        callId: filler.callId,
        cseq: 1,
      }),
      a.ports.pbx,
    )
    await answerAndHangUpThroughB(c, bInv)
    await until('no keys left', async () => (await keys()).length === 0)
  })

  it('copy and CANCEL through B before B knows it is a copy: the CANCEL reaches A and the callee, one CDR', async () => {
    const c = newCall()
    await caller.send(c.invite(), a.ports.pbx)
    const bInv = await bInviteOf(seenB)
    await callee.send(sipResponse(bInv.msg, 180, 'Ringing', 'callee3', uasPort), bInv.port)
    await caller.waitFor(response(180, c.callId), '180 at the caller')
    // B is stopped while the copy and its CANCEL are put in its socket buffer: once continued it
    // reads the copy, asks Redis for a slot, and reads the CANCEL before Redis answers — it answers
    // the CANCEL itself (200, 487) as for a call it routes, then finds the copy.
    process.kill(b.proc.pid, 'SIGSTOP')
    await caller.send(c.invite(), b.ports.pbx)
    await caller.send(
      sipRequest({
        method: 'CANCEL',
        ruri: c.ruri,
        port: uacPort,
        branch: c.branch,
        fromTag: c.fromTag,
        to: `<${c.ruri}>`,
        callId: c.callId,
        cseq: 1,
      }),
      b.ports.pbx,
    )
    process.kill(b.proc.pid, 'SIGCONT')
    await caller.waitFor(response(200, c.callId, 'CANCEL'), '200 to the CANCEL')
    // A got the CANCEL from B and cancels its B leg.
    const cancel = await callee.waitFor(
      (m) => request('CANCEL')(m) && m.callId === bInv.msg.callId,
      'the CANCEL at the callee',
    )
    await callee.send(sipResponse(cancel.msg as SipRequest, 200, 'OK', 'callee3', uasPort), cancel.port)
    await callee.send(sipResponse(bInv.msg, 487, 'Request Terminated', 'callee3', uasPort), bInv.port)
    await caller.waitFor(response(487, c.callId), '487 at the caller')
    await a.proc.waitForOutput(new RegExp(`"sipCallId":"${c.callId}"`), 10_000)
    await until('no keys left', async () => (await keys()).length === 0)
    const cdrs = [...cdrLines(a.proc.output()), ...cdrLines(b.proc.output())].filter(
      (l) => (l.legA as { sipCallId?: string }).sipCallId === c.callId,
    )
    assert.deepEqual(
      cdrs.map((l) => [l.finalCode, l.hangup]),
      [[487, { by: 'caller', reason: 'cancel' }]],
      'one CDR line, from A',
    )
    assert.equal(callee.all(request('INVITE')).length, seenB.size, 'no second B leg')
  })
})
