import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import type { Registry } from 'prom-client'
import type { SipRequest, SipResponse } from '../../lib/sip/message/message.ts'
import type { SignallingServer } from '../../signalling-pod/src/signalling-server.ts'
import { configYaml, sample } from './harness.ts'
import { type InProcessB2bua, startInProcessB2bua } from './in-process-b2bua.ts'
import { type Peers, type TestStore, until } from './two-processes.ts'
import { newBranch, request, response, sipRequest, sipResponse } from './udp-peer.ts'

/**
 * A BYE that cannot be relayed: the SIP interface of the other leg left the config while the call
 * was up. The caller gets 500 and the call is put back, like a call whose BYE was challenged; its
 * sender ended the session with the BYE (RFC 3261 §15.1.1) and does not send it again, so the SBC
 * ends the call after the same wait (16 s): one CDR, the active-call gauges down, no keys. Before,
 * the put-back record expired after 32 s with no CDR and the gauges kept the call. The B2BUA runs in
 * this process on a real redis-server; caller and callee are bare UDP sockets.
 */
describe('B2BUA: a BYE whose other leg lost its SIP interface', function () {
  this.timeout(40_000)
  let b2bua: InProcessB2bua | undefined
  let store: TestStore | undefined
  let peers: Peers | undefined
  let server: SignallingServer | undefined
  let registry: Registry | undefined
  const cdrs: string[] = []
  const ports = { pbx: 0, carrier: 0, http: 0 }
  const configOf = (yaml: string, generation: number) => b2bua!.configOf(yaml, generation)

  before(async () => {
    b2bua = await startInProcessB2bua({ name: 'byeiface', cdrs, server: { interfaceDrainMs: 100 } })
    ;({ store, peers, server, registry } = b2bua)
    Object.assign(ports, b2bua.ports)
  })
  after(() => b2bua?.close())

  it('500 to the BYE, then the SBC ends the call: one CDR, gauges down, no keys', async () => {
    const { caller, callee, uacPort, uasPort } = peers!
    const ruri = 'sip:callee@127.0.0.1'
    const callId = `${randomBytes(6).toString('hex')}@byeiface.test`
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
    await callee.send(sipResponse(inv.msg, 200, 'OK', 'callee1', uasPort), inv.port)
    const ok = (await caller.waitFor(response(200, callId), '200 at the caller')).msg as SipResponse
    const to = ok.header('to') ?? ''
    const target = /<([^>]+)>/.exec(ok.header('contact') ?? '')?.[1] ?? ruri
    const req = (method: string, cseq: number) =>
      sipRequest({ method, ruri: target, port: uacPort, branch: newBranch(), fromTag, to, callId, cseq })
    await caller.send(req('ACK', 1), ports.pbx)
    await callee.waitFor(request('ACK', inv.msg.callId), 'the ACK at the callee')
    const active = async () => sample(await registry!.metrics(), 'sbc_calls_active{ip_group="carrier"}')
    assert.equal(await active(), 1)

    // The carrier group moves to another interface: leg B's interface (carrier-side) is gone.
    const moved = configYaml(ports, uacPort, uasPort, 'UDP')
      .replace(
        'metadata: { name: carrier-side, namespace: default }',
        'metadata: { name: carrier-side2, namespace: default }',
      )
      .replace('sipInterfaceRef: { name: carrier-side }', 'sipInterfaceRef: { name: carrier-side2 }')
    await server!.applyConfig(await configOf(moved, 2))

    await caller.send(req('BYE', 2), ports.pbx)
    await caller.waitFor(response(500, callId, 'BYE'), '500 to the BYE')
    assert.equal(callee.all(request('BYE')).length, 0, 'the BYE was not relayed')
    // The caller does not send it again: the SBC ends the call after the challenged BYE's wait.
    for (let i = 0; i < 100 && !cdrs.some((l) => l.includes(callId)); i++)
      await new Promise((r) => setTimeout(r, 250))
    const lines = cdrs
      .join('')
      .split('\n')
      .filter((l) => l.includes(callId))
    assert.equal(lines.length, 1, 'one CDR')
    const cdr = JSON.parse(lines[0]!) as { hangup: { by: string; reason: string } }
    assert.equal(cdr.hangup.by, 'caller')
    assert.equal(cdr.hangup.reason, 'bye')
    assert.equal(await active(), 0, 'the call is no longer counted active')
    await until('no keys left', async () => (await store!.keys()).length === 0)
    await new Promise((r) => setTimeout(r, 300))
    assert.equal(
      cdrs
        .join('')
        .split('\n')
        .filter((l) => l.includes(callId)).length,
      1,
      'still one CDR',
    )
  })
})
