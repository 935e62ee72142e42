import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import type { SipRequest, SipResponse } from '../../lib/sip/message/message.ts'
import { cdrLines } from './harness.ts'
import { until, useTwoProcesses } from './two-processes.ts'
import { newBranch, request, response, sipRequest, sipResponse } from './udp-peer.ts'

/**
 * A forking proxy on the callee side passes every 2xx of its branches upstream (RFC 3261 §16.7
 * step 5), so two phones answering at once give the SBC two 2xx with different To tags. The call
 * takes the first; the second created a dialog of its own, which the SBC (the UAC of leg B) must
 * acknowledge and end with a BYE (§13.2.2.4) — while the first dialog's 2xx, sent again, still gets
 * the first dialog's ACK. Caller and callee are bare UDP sockets of the test.
 */
describe("B2BUA: a second dialog answering the callee's INVITE (forking proxy)", function () {
  this.timeout(60_000)
  const t = useTwoProcesses()
  const ruri = 'sip:callee@127.0.0.1'
  const toTagOf = (m: SipRequest | SipResponse) => /;\s*tag=([^;>\s]+)/.exec(m.header('to') ?? '')?.[1]

  for (const when of ['after', 'before'] as const)
    it(`the 2xx of another branch ${when} the caller's ACK: ACK and BYE on that dialog, the call goes on`, async () => {
      const callId = `${randomBytes(6).toString('hex')}@fork.test`
      const fromTag = randomBytes(4).toString('hex')
      let to = `<${ruri}>`
      let target = ruri
      const fromCaller = (method: string, cseq: number) =>
        sipRequest({ method, ruri: target, port: t.uacPort, branch: newBranch(), fromTag, to, callId, cseq })
      await t.caller.send(fromCaller('INVITE', 1), t.a.ports.pbx)
      const inv = (await t.callee.waitFor(
        (m) =>
          request('INVITE')(m) && !t.callee.received.some((r) => r.msg.callId === m.callId && r.msg !== m),
        'the INVITE at the callee',
      )) as { msg: SipRequest; port: number }
      const bCallId = inv.msg.callId
      const at = (tag: string, method: string) => () =>
        t.callee.all((m) => request(method, bCallId)(m) && toTagOf(m) === tag).map((r) => r.msg as SipRequest)
      const first = sipResponse(inv.msg, 200, 'OK', 'branch1', t.uasPort)
      const second = sipResponse(inv.msg, 200, 'OK', 'branch2', t.uasPort)
      await t.callee.send(first, inv.port)
      const ok = (await t.caller.waitFor(response(200, callId), '200 at the caller')).msg as SipResponse
      to = ok.header('to') ?? ''
      target = /<([^>]+)>/.exec(ok.header('contact') ?? '')?.[1] ?? ruri
      if (when === 'before') await t.callee.send(second, inv.port)
      await t.caller.send(fromCaller('ACK', 1), t.a.ports.pbx)
      await until('the ACK of the first dialog', async () => at('branch1', 'ACK')().length === 1)
      if (when === 'after') await t.callee.send(second, inv.port)
      await until('the ACK of the second dialog', async () => at('branch2', 'ACK')().length === 1)
      await until('the BYE of the second dialog', async () => at('branch2', 'BYE')().length > 0)
      const [ack2] = at('branch2', 'ACK')()
      assert.equal(ack2?.cseq?.seq, inv.msg.cseq?.seq, "the ACK has the INVITE's CSeq number")
      const bye2 = at('branch2', 'BYE')()[0]!
      await t.callee.send(sipResponse(bye2, 200, 'OK', 'branch2', t.uasPort), inv.port)
      // The first dialog's 2xx again still gets its own ACK, and no BYE.
      await t.callee.send(first, inv.port)
      await until('the ACK of the first dialog again', async () => at('branch1', 'ACK')().length === 2)
      assert.equal(at('branch1', 'BYE')().length, 0, 'the call is not hung up')
      assert.equal(t.caller.all(response(200, callId)).length, 1, 'the caller got one 200')
      // The call goes on with the first branch: the caller's BYE reaches it.
      await t.caller.send(fromCaller('BYE', 2), t.b.ports.pbx)
      await until('the BYE of the first dialog', async () => at('branch1', 'BYE')().length === 1)
      const bye1 = at('branch1', 'BYE')()[0]!
      const byePort = t.callee.received.find((r) => r.msg === bye1)?.port ?? 0
      await t.callee.send(sipResponse(bye1, 200, 'OK', 'branch1', t.uasPort), byePort)
      await t.caller.waitFor(response(200, callId, 'BYE'), '200 to the BYE')
      await until('one CDR', async () =>
        [...cdrLines(t.a.proc.output()), ...cdrLines(t.b.proc.output())].some(
          (l) => (l.legA as { sipCallId?: string }).sipCallId === callId,
        ),
      )
      await until('the call gone from Redis', async () =>
        (await t.store.keys()).every((k) => !k.includes(callId) && !k.includes(bCallId ?? '')),
      )
    })
})
