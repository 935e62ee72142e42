import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import type { SipRequest, SipResponse } from '../../lib/sip/message/message.ts'
import { freePort } from '../../test/harness/free-port.ts'
import { carrier2Yaml, cdrLines } from './harness.ts'
import { until, useTwoProcesses } from './two-processes.ts'
import { newBranch, request, response, sipRequest, sipResponse, UdpPeer } from './udp-peer.ts'

/**
 * A caller's PRACK (RFC 3262) is a request on leg B: it moves leg B's CSeq on in the store, whichever
 * process relays it, while the process forwarding the INVITE keeps the early call in memory. What
 * that process sends on leg B later — the BYE of a 2xx crossing a CANCEL, the INVITE to the next
 * target — must go above the PRACK's CSeq (RFC 3261 §12.2.1.1; a callee refuses a lower or equal one
 * with 500, §12.2.2, and keeps the call). Two `kube-sbc run --redis` processes; the INVITE through
 * A, the PRACK through B; caller and callees are bare UDP sockets of the test.
 */
describe('B2BUA: leg B requests after a PRACK go above its CSeq', function () {
  this.timeout(60_000)
  // The failover target (group carrier2), opened before the processes start (hooks run in order).
  let second: UdpPeer | undefined
  let secondPort = 0
  before(async () => {
    secondPort = await freePort()
    second = await UdpPeer.open(secondPort)
  })
  after(() => second?.close())
  const t = useTwoProcesses({
    sbc: () => ({
      config: {
        append: `${carrier2Yaml(secondPort)}---
apiVersion: sbc.kubesbc.io/v1alpha1
kind: RoutingRule
metadata: { name: failover, namespace: default }
spec:
  order: 10
  match: { sourceIPGroups: [pbx], destinationNumber: { exact: failover } }
  action: { route: { targets: [{ ipGroup: carrier }, { ipGroup: carrier2 }], failover: { onStatusCodes: [503] } } }
`,
      },
    }),
  })

  const cdrsOf = (callId: string) =>
    [...cdrLines(t.a.proc.output()), ...cdrLines(t.b.proc.output())].filter(
      (l) => (l.legA as { sipCallId?: string }).sipCallId === callId,
    )

  /**
   * An INVITE to `user` through A, a reliable 183 from the callee, the caller's PRACK through B
   * answered 200: the early call as the test needs it.
   */
  async function prackedCall(user: string) {
    const ruri = `sip:${user}@127.0.0.1`
    const callId = `${randomBytes(6).toString('hex')}@prack.test`
    const fromTag = randomBytes(4).toString('hex')
    const inviteBranch = newBranch()
    let to = `<${ruri}>`
    let target = ruri
    const fromCaller = (method: string, cseq: number, branch = newBranch()) =>
      sipRequest({ method, ruri: target, port: t.uacPort, branch, fromTag, to, callId, cseq })
    await t.caller.send(
      fromCaller('INVITE', 1, inviteBranch).replace(
        'Max-Forwards: 70',
        'Max-Forwards: 70\r\nSupported: 100rel',
      ),
      t.a.ports.pbx,
    )
    const inv = (await t.callee.waitFor(
      (m) => request('INVITE')(m) && m.header('to')?.includes(user) === true,
      'the INVITE at the callee',
    )) as { msg: SipRequest; port: number }
    await t.callee.send(
      sipResponse(inv.msg, 183, 'Session Progress', 'callee1', t.uasPort).replace(
        'Content-Length: 0',
        'Require: 100rel\r\nRSeq: 1\r\nContent-Length: 0',
      ),
      inv.port,
    )
    const early = (await t.caller.waitFor(response(183, callId), '183 at the caller')).msg as SipResponse
    const earlyTo = early.header('to') ?? ''
    to = earlyTo
    target = /<([^>]+)>/.exec(early.header('contact') ?? '')?.[1] ?? ruri
    await t.caller.send(
      fromCaller('PRACK', 2).replace('Max-Forwards: 70', 'Max-Forwards: 70\r\nRAck: 1 1 INVITE'),
      t.b.ports.pbx,
    )
    const prack = (await t.callee.waitFor(request('PRACK', inv.msg.callId), 'the PRACK at the callee')) as {
      msg: SipRequest
      port: number
    }
    await t.callee.send(sipResponse(prack.msg, 200, 'OK', 'callee1', t.uasPort), prack.port)
    await t.caller.waitFor(response(200, callId, 'PRACK'), '200 to the PRACK')
    assert.ok((prack.msg.cseq?.seq ?? 0) > (inv.msg.cseq?.seq ?? 0), 'the PRACK is above the INVITE')
    return {
      callId,
      inv,
      prackSeq: prack.msg.cseq?.seq ?? 0,
      /** A request of the caller on the INVITE's transaction (CANCEL: no To tag) or the early dialog. */
      cancel: () => {
        to = `<${ruri}>`
        return fromCaller('CANCEL', 1, inviteBranch)
      },
      fromCaller,
      earlyTo,
    }
  }

  it("the callee's 200 crossing the caller's CANCEL: its BYE has a CSeq above the PRACK's", async () => {
    const c = await prackedCall('callee')
    await t.caller.send(c.cancel(), t.a.ports.pbx)
    await t.callee.waitFor(request('CANCEL', c.inv.msg.callId), 'the CANCEL at the callee')
    await t.callee.send(sipResponse(c.inv.msg, 200, 'OK', 'callee1', t.uasPort), c.inv.port)
    const bye = (await t.callee.waitFor(request('BYE', c.inv.msg.callId), 'the BYE at the callee'))
      .msg as SipRequest
    assert.ok((bye.cseq?.seq ?? 0) > c.prackSeq, `BYE CSeq ${bye.cseq?.seq} above the PRACK's ${c.prackSeq}`)
    await t.caller.waitFor(response(487, c.callId), '487 at the caller')
    await until('one CDR', async () => cdrsOf(c.callId).length === 1)
  })

  it('a 503 after the PRACK: the call fails over to the next target, the INVITE there above the PRACK', async () => {
    const c = await prackedCall('failover')
    await t.callee.send(sipResponse(c.inv.msg, 503, 'Service Unavailable', 'callee1', t.uasPort), c.inv.port)
    const inv2 = (await second!.waitFor(
      request('INVITE', c.inv.msg.callId),
      'the INVITE at the next target',
    )) as {
      msg: SipRequest
      port: number
    }
    assert.ok(
      (inv2.msg.cseq?.seq ?? 0) > c.prackSeq,
      `INVITE CSeq ${inv2.msg.cseq?.seq} above the PRACK's ${c.prackSeq}`,
    )
    await second!.send(sipResponse(inv2.msg, 200, 'OK', 'second1', secondPort), inv2.port)
    const ok = (await t.caller.waitFor(response(200, c.callId), '200 at the caller')).msg as SipResponse
    assert.equal(t.caller.all(response(503, c.callId)).length, 0, 'the caller never saw the 503')
    const to = ok.header('to') ?? ''
    const sbcA = /<([^>]+)>/.exec(ok.header('contact') ?? '')?.[1] ?? ''
    const req = (method: string, cseq: number) =>
      sipRequest({
        method,
        ruri: sbcA,
        port: t.uacPort,
        branch: newBranch(),
        fromTag: /tag=([^;>\s]+)/.exec(ok.header('from') ?? '')?.[1] ?? '',
        to,
        callId: c.callId,
        cseq,
      })
    await t.caller.send(req('ACK', 1), t.a.ports.pbx)
    await second!.waitFor(request('ACK', c.inv.msg.callId), 'the ACK at the next target')
    await t.caller.send(req('BYE', 3), t.b.ports.pbx)
    const bye = (await second!.waitFor(request('BYE', c.inv.msg.callId), 'the BYE at the next target')) as {
      msg: SipRequest
      port: number
    }
    await second!.send(sipResponse(bye.msg, 200, 'OK', 'second1', secondPort), bye.port)
    await t.caller.waitFor(response(200, c.callId, 'BYE'), '200 to the BYE')
    await until('one CDR', async () => cdrsOf(c.callId).length === 1)
    assert.equal(cdrsOf(c.callId)[0]?.destinationGroup, 'carrier2')
    await until('no keys left', async () =>
      (await t.store.keys()).every((k) => !k.includes(c.callId) && !k.includes(c.inv.msg.callId ?? '')),
    )
  })
})
