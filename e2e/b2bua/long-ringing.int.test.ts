import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import type { SipRequest, SipResponse } from '../../lib/sip/message/message.ts'
import { type InProcessB2bua, startInProcessB2bua } from './in-process-b2bua.ts'
import { type Peers, type TestStore, until } from './two-processes.ts'
import { newBranch, request, response, sipRequest, sipResponse } from './udp-peer.ts'

/**
 * A callee may ring, or play early media (a queue, an announcement), for longer than the early
 * call's record lives in the store after its last write (`TtlPolicy.earlyMs`, 200 s). The process
 * forwarding the INVITE keeps it stored until the final response; before, the record expired under
 * the ringing call and the callee's 200 then found no call: 503 to the caller, ACK and BYE to the
 * callee. The B2BUA runs in this process on a real redis-server with a 2 s early TTL (the policy
 * is the store's), so the test rings past it in seconds; caller and callee are bare UDP sockets.
 */
describe('B2BUA: a call ringing longer than the early TTL', function () {
  this.timeout(30_000)
  let b2bua: InProcessB2bua | undefined
  let store: TestStore | undefined
  let peers: Peers | undefined
  const cdrs: string[] = []
  const ports = { pbx: 0, carrier: 0 }

  before(async () => {
    b2bua = await startInProcessB2bua({
      name: 'ring',
      cdrs,
      ttl: { earlyMs: 2000, maxCallMs: 60_000, terminatedMs: 2000 },
    })
    ;({ store, peers } = b2bua)
    Object.assign(ports, b2bua.ports)
  })
  after(() => b2bua?.close())

  it('rings for twice the early TTL, then the answer connects the call; one CDR, nothing left', async () => {
    const { caller, callee, uacPort, uasPort } = peers!
    const ruri = 'sip:callee@127.0.0.1'
    const callId = `${randomBytes(6).toString('hex')}@ring.test`
    const fromTag = randomBytes(4).toString('hex')
    await caller.send(
      sipRequest({
        method: 'INVITE',
        ruri,
        port: uacPort,
        branch: newBranch(),
        fromTag,
        to: `<${ruri}>`,
        callId,
        cseq: 1,
      }),
      ports.pbx,
    )
    const inv = (await callee.waitFor(request('INVITE'), 'the INVITE at the callee')) as {
      msg: SipRequest
      port: number
    }
    await callee.send(sipResponse(inv.msg, 180, 'Ringing', 'callee1', uasPort), inv.port)
    await caller.waitFor(response(180, callId), '180 at the caller')
    const holds = () => store!.client.zrange('sbc:{g:carrier}:calls', 0, -1)
    assert.equal((await holds()).length, 1, 'the ringing call holds a carrier slot')
    // Ringing for twice the TTL the record has after its last write.
    await new Promise((r) => setTimeout(r, 4000))
    assert.equal((await store!.keys()).filter((k) => k.includes('{c:')).length, 1, 'the call is still stored')
    assert.equal((await holds()).length, 1, 'and still holds its slot')
    await callee.send(sipResponse(inv.msg, 200, 'OK', 'callee1', uasPort), inv.port)
    const ok = (await caller.waitFor(response(200, callId), '200 at the caller')).msg as SipResponse
    assert.equal(caller.all(response(503, callId)).length, 0, 'no 503')
    const to = ok.header('to') ?? ''
    const target = /<([^>]+)>/.exec(ok.header('contact') ?? '')?.[1] ?? ruri
    const req = (method: string, cseq: number) =>
      sipRequest({ method, ruri: target, port: uacPort, branch: newBranch(), fromTag, to, callId, cseq })
    await caller.send(req('ACK', 1), ports.pbx)
    await callee.waitFor(request('ACK', inv.msg.callId), 'the ACK at the callee')
    assert.equal(callee.all(request('BYE')).length, 0, 'no BYE to the callee')
    await caller.send(req('BYE', 2), ports.pbx)
    const bye = (await callee.waitFor(request('BYE', inv.msg.callId), 'the BYE at the callee')) as {
      msg: SipRequest
      port: number
    }
    await callee.send(sipResponse(bye.msg, 200, 'OK', 'callee1', uasPort), bye.port)
    await caller.waitFor(response(200, callId, 'BYE'), '200 to the BYE')
    await until('the CDR', async () => cdrs.some((l) => l.includes(callId)))
    await until('nothing left in Redis', async () => (await store!.keys()).length === 0)
    await new Promise((r) => setTimeout(r, 300))
    assert.equal(
      cdrs
        .join('')
        .split('\n')
        .filter((l) => l.includes(callId)).length,
      1,
      'one CDR',
    )
  })
})
