import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { createMetricsRegistry } from '../../lib/observability/metrics-registry.ts'
import type { SipRequest } from '../../lib/sip/message/message.ts'
import { type InProcessB2bua, startInProcessB2bua } from './in-process-b2bua.ts'
import { type Peers, type TestStore, until } from './two-processes.ts'
import { newInvite, request, response, sipResponse } from './udp-peer.ts'

/**
 * Timer C (RFC 3261 §16.6 step 11, §16.8): a callee that rings, or only sends 100 Trying, and then
 * neither answers nor refuses, while the caller never cancels. The SBC gives the INVITE up after its
 * ringing limit (180 s, counted again from each provisional above 100): CANCEL to the callee, 408 to
 * the caller, one CDR (by sbc, no-answer), nothing left in Redis. Before, the INVITE stayed in the
 * process for good, and its record and admission slot were written again every 100 s. The B2BUA
 * runs in this process on a real redis-server with a 2 s limit; caller and callee are bare UDP
 * sockets.
 */
describe('B2BUA: a callee that never answers (ringing limit, Timer C)', function () {
  this.timeout(30_000)
  const LIMIT_MS = 2000
  let b2bua: InProcessB2bua | undefined
  let store: TestStore | undefined
  let peers: Peers | undefined
  const cdrs: string[] = []
  const ports = { pbx: 0, carrier: 0 }
  const registry = createMetricsRegistry()
  /** `sbc_calls_failed_total` of the caller's group for `code`. */
  const failed = async (code: number) => {
    const line = (await registry.metrics())
      .split('\n')
      .find(
        (l) =>
          l.startsWith('sbc_calls_failed_total{') &&
          l.includes('direction="inbound"') &&
          l.includes(`code="${code}"`),
      )
    return Number(line?.split(' ').pop() ?? 0)
  }

  before(async () => {
    b2bua = await startInProcessB2bua({
      name: 'timerc',
      cdrs,
      registry,
      server: { ringingLimitMs: LIMIT_MS },
    })
    ;({ store, peers } = b2bua)
    Object.assign(ports, b2bua.ports)
  })
  after(() => b2bua?.close())

  const cdrsOf = (callId: string) =>
    cdrs
      .join('')
      .split('\n')
      .filter((l) => l.includes(callId))
      .map(
        (l) =>
          JSON.parse(l) as { finalCode: number; answerTime: unknown; hangup: { by: string; reason: string } },
      )

  /** A call from the caller whose INVITE reached the callee. */
  async function call() {
    const { caller, callee, uacPort } = peers!
    const ruri = 'sip:callee@127.0.0.1'
    const callId = `${randomBytes(6).toString('hex')}@timerc.test`
    await caller.send(newInvite({ ruri, port: uacPort, callId }), ports.pbx)
    const inv = (await callee.waitFor(request('INVITE'), 'the INVITE at the callee')) as {
      msg: SipRequest
      port: number
    }
    // The next call's INVITE is told apart by its Call-ID.
    callee.received.length = 0
    return { callId, inv: inv.msg, port: inv.port }
  }

  const cancelOf = (inv: SipRequest) => (m: Parameters<ReturnType<typeof request>>[0]) =>
    request('CANCEL', inv.callId)(m) && m.header('via') === inv.header('via')

  async function assertEnded(callId: string, failedBefore: number) {
    const { caller } = peers!
    await caller.waitFor(response(408, callId), '408 at the caller')
    assert.equal(caller.all(response(487, callId)).length, 0, 'no 487: the caller did not cancel')
    assert.equal(caller.all(response(200, callId)).length, 0, 'no 200 at the caller')
    await until('the CDR', async () => cdrsOf(callId).length === 1)
    await until('nothing left in Redis', async () => (await store!.keys()).length === 0)
    await new Promise((r) => setTimeout(r, 300))
    const all = cdrsOf(callId)
    assert.equal(all.length, 1, 'one CDR')
    assert.equal(all[0]?.hangup.by, 'sbc')
    assert.equal(all[0]?.hangup.reason, 'no-answer')
    assert.equal(all[0]?.finalCode, 408)
    assert.equal(all[0]?.answerTime, null)
    assert.equal(await failed(408), failedBefore + 1, 'counted failed with 408')
    assert.equal(await failed(487), 0, 'not counted as cancelled')
  }

  it('180, then nothing: CANCEL to the callee, 408 to the caller, one CDR, no keys', async () => {
    const { callee, uasPort } = peers!
    const before = await failed(408)
    const { callId, inv, port } = await call()
    await callee.send(sipResponse(inv, 180, 'Ringing', 'callee1', uasPort), port)
    await peers!.caller.waitFor(response(180, callId), '180 at the caller')
    assert.equal(
      (await store!.client.zrange('sbc:{g:carrier}:calls', 0, -1)).length,
      1,
      'the ringing call holds a carrier slot',
    )
    const cancel = (await callee.waitFor(cancelOf(inv), 'the CANCEL at the callee')).msg as SipRequest
    assert.equal(cancel.cseq?.seq, inv.cseq?.seq, "the CANCEL names the INVITE's transaction")
    await callee.send(sipResponse(cancel, 200, 'OK', 'callee1', uasPort), port)
    await callee.send(sipResponse(inv, 487, 'Request Terminated', 'callee1', uasPort), port)
    await assertEnded(callId, before)
  })

  it('100 Trying alone does not hold the INVITE either', async () => {
    const { callee, uasPort } = peers!
    const before = await failed(408)
    const { callId, inv, port } = await call()
    await callee.send(
      sipResponse(inv, 100, 'Trying', '', uasPort).replace(/^(To: .*);tag=\r$/m, '$1\r'),
      port,
    )
    const cancel = (await callee.waitFor(cancelOf(inv), 'the CANCEL at the callee')).msg as SipRequest
    await callee.send(sipResponse(cancel, 200, 'OK', 'callee1', uasPort), port)
    await callee.send(sipResponse(inv, 487, 'Request Terminated', 'callee1', uasPort), port)
    await assertEnded(callId, before)
  })

  it('each provisional starts the limit again; a 200 crossing the CANCEL gets ACK and BYE', async () => {
    const { callee, uasPort } = peers!
    const before = await failed(408)
    const { callId, inv, port } = await call()
    // Provisionals at a third of the limit, for twice the limit: never given up meanwhile.
    for (let i = 0; i < 6; i++) {
      await callee.send(sipResponse(inv, i === 0 ? 180 : 183, 'Ringing', 'callee1', uasPort), port)
      await new Promise((r) => setTimeout(r, LIMIT_MS / 3))
    }
    assert.equal(callee.all(cancelOf(inv)).length, 0, 'no CANCEL while the callee keeps sending provisionals')
    assert.equal(peers!.caller.all(response(408, callId)).length, 0, 'no 408 meanwhile')
    const cancel = (await callee.waitFor(cancelOf(inv), 'the CANCEL at the callee')).msg as SipRequest
    await callee.send(sipResponse(cancel, 200, 'OK', 'callee1', uasPort), port)
    // The callee answers anyway (the CANCEL/200 race, RFC 3261 §9.1).
    await callee.send(sipResponse(inv, 200, 'OK', 'callee1', uasPort), port)
    await callee.waitFor(request('ACK', inv.callId), 'the ACK of the 200 at the callee')
    const bye = (await callee.waitFor(request('BYE', inv.callId), 'the BYE at the callee')).msg as SipRequest
    await callee.send(sipResponse(bye, 200, 'OK', 'callee1', uasPort), port)
    await assertEnded(callId, before)
  })
})
