import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import type { SipRequest, SipResponse } from '../../lib/sip/message/message.ts'
import { cdrLines, type Sbc } from './harness.ts'
import { until, useTwoProcesses } from './two-processes.ts'
import { newBranch, request, response, sipRequest, sipResponse } from './udp-peer.ts'

/**
 * The caller's BYE on an early dialog (RFC 3261 §15: after a 18x with a To tag, before the 2xx):
 * for the B2BUA that ends the call as a CANCEL would — 200 to the BYE, 487 to the caller's INVITE,
 * CANCEL toward the callee, one CDR, no key and no admission hold left. Two `kube-sbc run --redis`
 * processes on one redis-server; caller and callee are bare UDP sockets of this test, which answer
 * only when the test says so: the order of every message is the test's.
 */
describe('B2BUA: a BYE on an early dialog', function () {
  this.timeout(60_000)
  const t = useTwoProcesses()
  const ruri = 'sip:callee@127.0.0.1'

  /** A call through `via` that the callee rings (180 with its tag); what the caller's BYE needs. */
  async function ringingCall(via: Sbc) {
    const callId = `${randomBytes(6).toString('hex')}@bye-early.test`
    const fromTag = randomBytes(4).toString('hex')
    const invites = () => t.callee.all(request('INVITE'))
    const earlier = invites().length
    const inviteBranch = newBranch()
    await t.caller.send(
      sipRequest({
        method: 'INVITE',
        ruri,
        port: t.uacPort,
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
    await t.callee.send(sipResponse(inv.msg, 180, 'Ringing', 'callee1', t.uasPort), inv.port)
    const ringing = (await t.caller.waitFor(response(180, callId), '180 at the caller')).msg as SipResponse
    const to = ringing.header('to') ?? ''
    assert.match(to, /;tag=/, 'the 180 makes an early dialog')
    const target = /<([^>]+)>/.exec(ringing.header('contact') ?? '')?.[1] ?? ruri
    const bye = sipRequest({
      method: 'BYE',
      ruri: target,
      port: t.uacPort,
      branch: newBranch(),
      fromTag,
      to,
      callId,
      cseq: 2,
    })
    const bCallId = inv.msg.callId
    const atCallee = (method: string) => t.callee.all((m) => request(method)(m) && m.callId === bCallId)
    return { callId, inv, bye, atCallee }
  }

  const cdrsOf = (callId: string) =>
    [...cdrLines(t.a.proc.output()), ...cdrLines(t.b.proc.output())].filter(
      (l) => (l.legA as { sipCallId?: string } | undefined)?.sipCallId === callId,
    ) as { hangup: { by: string; reason: string } }[]
  const holds = async () => await t.store.client.zrange('sbc:{g:carrier}:calls', 0, -1)

  for (const where of ['the process forwarding the INVITE', 'the other process'] as const) {
    it(`through ${where}: answered 200; the callee gets a CANCEL, the caller 487; one CDR, nothing left`, async () => {
      const { callId, inv, bye, atCallee } = await ringingCall(t.a)
      assert.equal((await holds()).length, 1, 'the call holds a carrier slot')
      await t.caller.send(bye, (where === 'the other process' ? t.b : t.a).ports.pbx)
      await t.caller.waitFor(response(200, callId, 'BYE'), '200 to the BYE')
      const cancel = (
        await t.callee.waitFor((m) => request('CANCEL')(m) && m.callId === inv.msg.callId, 'the CANCEL')
      ).msg as SipRequest
      // RFC 3261 §9.1: the CANCEL names the INVITE's transaction (its top Via).
      assert.equal(cancel.header('via'), inv.msg.header('via'))
      await t.callee.send(sipResponse(cancel, 200, 'OK', 'callee1', t.uasPort), inv.port)
      await t.callee.send(sipResponse(inv.msg, 487, 'Request Terminated', 'callee1', t.uasPort), inv.port)
      await t.caller.waitFor(response(487, callId), '487 to the INVITE')
      assert.equal(atCallee('BYE').length, 0, 'no BYE toward the callee')
      await until('the CDR', async () => cdrsOf(callId).length === 1)
      await until('no keys left', async () => (await t.store.keys()).length === 0)
      assert.deepEqual(await holds(), [])
      assert.deepEqual(cdrsOf(callId)[0]?.hangup, { by: 'caller', reason: 'cancel' })
      assert.equal(t.caller.all(response(503, callId)).length, 0)
    })
  }

  it("the callee's 200 crossing the CANCEL: ACK and BYE toward the callee, the caller keeps its 487; one CDR", async () => {
    const { callId, inv, bye, atCallee } = await ringingCall(t.a)
    await t.caller.send(bye, t.a.ports.pbx)
    await t.caller.waitFor(response(200, callId, 'BYE'), '200 to the BYE')
    await t.caller.waitFor(response(487, callId), '487 to the INVITE')
    const cancel = (
      await t.callee.waitFor((m) => request('CANCEL')(m) && m.callId === inv.msg.callId, 'the CANCEL')
    ).msg as SipRequest
    // The callee answered the INVITE before it saw the CANCEL (RFC 3261 §9.1 race).
    await t.callee.send(sipResponse(inv.msg, 200, 'OK', 'callee1', t.uasPort), inv.port)
    await t.callee.send(
      sipResponse(cancel, 481, 'Call/Transaction Does Not Exist', 'callee1', t.uasPort),
      inv.port,
    )
    await until(
      'the ACK and the BYE at the callee',
      async () => atCallee('ACK').length > 0 && atCallee('BYE').length > 0,
    )
    const byeToCallee = atCallee('BYE')[0]!
    await t.callee.send(
      sipResponse(byeToCallee.msg as SipRequest, 200, 'OK', 'callee1', t.uasPort),
      byeToCallee.port,
    )
    await until('the CDR', async () => cdrsOf(callId).length === 1)
    await until('no keys left', async () => (await t.store.keys()).length === 0)
    assert.deepEqual(await holds(), [])
    assert.deepEqual(cdrsOf(callId)[0]?.hangup, { by: 'caller', reason: 'cancel' })
    assert.equal(t.caller.all(response(200, callId)).length, 0, 'no 2xx to the caller')
    // A late CDR would show by now: the ACK/BYE path writes it once.
    await new Promise((r) => setTimeout(r, 300))
    assert.equal(cdrsOf(callId).length, 1)
  })
})
