import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { createSocket, type Socket } from 'node:dgram'
import type { SipResponse } from '../../lib/sip/message/message.ts'
import type { StartedProcess } from '../../test/harness/child-process.ts'
import { freePort } from '../../test/harness/free-port.ts'
import { startSipp } from '../../test/harness/sipp.ts'
import {
  carrier2Yaml,
  cdrLines,
  configYaml,
  ok,
  type Sbc,
  type SbcPorts,
  scenario,
  setdest,
  startDnsmasq,
} from './harness.ts'
import { startStore, startTwoProcesses, type TestStore, until } from './two-processes.ts'
import { newBranch, response, sipRequest, UdpPeer } from './udp-peer.ts'

/**
 * A CANCEL that arrives before the SBC has a B leg for its INVITE (RFC 3261 §9.2: the pending INVITE
 * must still end with 487): two `kube-sbc run --redis` processes on one redis-server, and a callee
 * group whose proxy is a DNS name served by a dnsmasq this test holds with SIGSTOP. Process A sends
 * 100 Trying, then waits for DNS, so the call is not in Redis yet; the CANCEL goes to process B (no
 * INVITE transaction there, no call in the store) or to A itself. dnsmasq is continued only once that
 * CANCEL was handled, which makes the order deterministic. The callee address is a plain UDP socket:
 * it must receive nothing.
 */
describe('B2BUA: CANCEL before the call is stored (two processes, DNS held)', function () {
  this.timeout(60_000)
  let store: TestStore
  let dns: StartedProcess
  let callee: Socket
  const received: string[] = []
  let a: Sbc
  let b: Sbc
  let uacPort: number

  const keys = () => store.keys()

  /** Two callee groups with their own DNS names, so neither test finds the other's answer cached. */
  const yaml = (p: SbcPorts, uasPort: number) =>
    configYaml(p, uacPort, uasPort, 'UDP', {
      append: `${carrier2Yaml(uasPort, { address: 'slow2.test', resolution: 'A' })}---
apiVersion: sbc.kubesbc.io/v1alpha1
kind: RoutingRule
metadata: { name: second-to-carrier2, namespace: default }
spec:
  order: 10
  match: { sourceIPGroups: [pbx], destinationNumber: { exact: second } }
  action: { route: { targets: [{ ipGroup: carrier2 }] } }
---
apiVersion: sbc.kubesbc.io/v1alpha1
kind: IPGroup
metadata: { name: carrier3, namespace: default }
spec:
  sipInterfaceRef: { name: carrier-side }
  ipProfileRef: { name: default }
  proxySet: { proxies: [{ address: gone.test, port: ${uasPort}, transport: UDP, resolution: A }] }
---
apiVersion: sbc.kubesbc.io/v1alpha1
kind: RoutingRule
metadata: { name: third-to-carrier3, namespace: default }
spec:
  order: 11
  match: { sourceIPGroups: [pbx], destinationNumber: { exact: third } }
  action: { route: { targets: [{ ipGroup: carrier3 }] } }
---
apiVersion: sbc.kubesbc.io/v1alpha1
kind: IPGroup
metadata: { name: carrier4, namespace: default }
spec:
  sipInterfaceRef: { name: carrier-side }
  ipProfileRef: { name: default }
  proxySet: { proxies: [{ address: slow4.test, port: ${uasPort}, transport: UDP, resolution: A }] }
---
apiVersion: sbc.kubesbc.io/v1alpha1
kind: RoutingRule
metadata: { name: fourth-to-carrier4, namespace: default }
spec:
  order: 12
  match: { sourceIPGroups: [pbx], destinationNumber: { exact: fourth } }
  action: { route: { targets: [{ ipGroup: carrier4 }] } }
`,
    })
      // One call at a time from the caller's group: the admission refusal below.
      .replace(
        `proxySet: { proxies: [{ address: 127.0.0.1, port: ${uacPort}, transport: UDP }] }`,
        `proxySet: { proxies: [{ address: 127.0.0.1, port: ${uacPort}, transport: UDP }] }\n  maxConcurrentCalls: 1`,
      )
      .replace(
        `proxySet: { proxies: [{ address: 127.0.0.1, port: ${uasPort}, transport: UDP }] }`,
        `proxySet: { proxies: [{ address: slow1.test, port: ${uasPort}, transport: UDP, resolution: A }] }`,
      )

  before(async () => {
    store = await startStore()
    const dnsPort = await freePort()
    dns = await startDnsmasq(dnsPort, [
      '--host-record=slow1.test,127.0.0.1',
      '--host-record=slow2.test,127.0.0.1',
      '--host-record=slow4.test,127.0.0.1',
    ])
    uacPort = await freePort()
    const uasPort = await freePort()
    callee = createSocket('udp4')
    callee.on('message', (m) => received.push(m.toString('latin1')))
    await new Promise<void>((r) => callee.bind(uasPort, '127.0.0.1', () => r()))
    const env = { KUBE_SBC_DNS_SERVERS: `127.0.0.1:${dnsPort}` }
    ;({ a, b } = await startTwoProcesses(store.redis.url, uacPort, uasPort, (p) => {
      const text = yaml(p, uasPort)
      assert.match(text, /slow1\.test/)
      assert.match(text, /maxConcurrentCalls: 1/)
      return { yaml: text, env }
    }))
  })
  afterEach(() => {
    // Never leave the dnsmasq this test started stopped.
    if (dns) process.kill(dns.pid, 'SIGCONT')
  })
  after(async () => {
    await a?.close()
    await b?.close()
    await dns?.stop(2000)
    callee?.close()
    await store?.close()
  })

  const caller = async (service: string, vars: Record<string, string>) =>
    startSipp({
      scenario: { file: await scenario('uac-cancel-early.xml', vars) },
      target: `127.0.0.1:${a.ports.pbx}`,
      transport: 'u1',
      localPort: uacPort,
      calls: 1,
      timeoutSeconds: 20,
      extra: ['-s', service],
    })

  it('CANCEL to B before A stored the call: 200 from B, 487 from A, no B leg, no keys left', async () => {
    process.kill(dns.pid, 'SIGSTOP')
    const uac = await caller('first', { TO_CANCEL: setdest(b.ports.pbx), TO_OWNER: setdest(a.ports.pbx) })
    // B found no call and recorded the CANCEL; A is still waiting for DNS, so nothing else is stored.
    await until('the cancel mark', async () => (await keys()).some((k) => k.includes(':k:')))
    const early = await keys()
    assert.equal(early.length, 1, `only the cancel mark: ${early.join(' ')}`)
    // Logged once the script returned; the pipe from the process may deliver it a little later.
    await b.proc.waitForOutput(/Recorded CANCEL for an INVITE not stored yet/, 10_000)
    process.kill(dns.pid, 'SIGCONT')
    ok(await uac.result(), 1, 'UAC')
    await a.proc.waitForOutput(/another process got the CANCEL before the call was stored/, 10_000)
    await a.proc.waitForOutput(/"reason":"cancel"/, 10_000)
    const cdr = cdrLines(a.proc.output()).at(-1)
    assert.deepEqual([cdr?.finalCode, (cdr?.hangup as { reason?: string })?.reason], [487, 'cancel'])
    assert.deepEqual(await keys(), [], 'the mark was consumed and the admission holds released')
    assert.deepEqual(received, [], 'the callee got nothing')
  })

  it('CANCEL to A itself while it routes the INVITE: 200 and 487 at once, no B leg, no keys', async () => {
    process.kill(dns.pid, 'SIGSTOP')
    const uac = await caller('second', { TO_CANCEL: '', TO_OWNER: '' })
    // Answered while DNS is still held: the caller is done before A knows where the call would go.
    ok(await uac.result(), 1, 'UAC')
    assert.deepEqual(await keys(), [])
    process.kill(dns.pid, 'SIGCONT')
    await a.proc.waitForOutput(/Cancelled call while it was routed/, 10_000)
    assert.deepEqual(await keys(), [])
    assert.deepEqual(received, [], 'the callee got nothing')
  })

  /**
   * An INVITE refused before it was stored, after a CANCEL through B recorded a mark for it: the
   * refusal deletes the mark (docs/b2bua.md, "CANCEL before the call is stored") instead of leaving
   * it for its 32 s TTL. The caller is a bare UDP socket on the caller group's address (SIPp has
   * exited), so the test sends the CANCEL between A's 100 Trying and its refusal.
   */
  describe('an INVITE refused before it was stored deletes the CANCEL mark recorded for it', () => {
    let peer: UdpPeer
    before(async () => {
      peer = await UdpPeer.open(uacPort)
    })
    after(() => peer?.close())
    const marks = async () => (await keys()).filter((k) => k.includes(':k:'))

    /** INVITE to A (DNS held), CANCEL to B once A sent 100 Trying; the mark is then in Redis. */
    const inviteAndCancelThroughB = async (user: string) => {
      const callId = `${randomBytes(6).toString('hex')}@mark.test`
      const m = {
        ruri: `sip:${user}@127.0.0.1`,
        port: uacPort,
        branch: newBranch(),
        fromTag: randomBytes(4).toString('hex'),
        to: `<sip:${user}@127.0.0.1>`,
        callId,
        cseq: 1,
      }
      await peer.send(sipRequest({ ...m, method: 'INVITE' }), a.ports.pbx)
      await peer.waitFor(response(100, callId), '100 Trying from A')
      await peer.send(sipRequest({ ...m, method: 'CANCEL' }), b.ports.pbx)
      await peer.waitFor(response(200, callId, 'CANCEL'), '200 to the CANCEL from B')
      await until('the cancel mark', async () => (await marks()).length === 1)
      return callId
    }

    it('no target (the proxy name does not resolve): 503, and the mark is gone', async () => {
      process.kill(dns.pid, 'SIGSTOP')
      const callId = await inviteAndCancelThroughB('third')
      process.kill(dns.pid, 'SIGCONT')
      await peer.waitFor(response(503, callId), '503 from A')
      await until('the mark deleted', async () => (await marks()).length === 0)
      assert.deepEqual(await keys(), [])
    })

    it('admission (the caller group is full): 503, and the mark is gone', async () => {
      // A ringing call takes the caller group's one slot (the callee socket never answers).
      const filler = `${randomBytes(6).toString('hex')}@filler.test`
      await peer.send(
        sipRequest({
          method: 'INVITE',
          ruri: 'sip:callee@127.0.0.1',
          port: uacPort,
          branch: newBranch(),
          fromTag: 'filler',
          to: '<sip:callee@127.0.0.1>',
          callId: filler,
          cseq: 1,
        }),
        a.ports.pbx,
      )
      await until('the filler call stored', async () => (await keys()).some((k) => k.includes('calls')))
      process.kill(dns.pid, 'SIGSTOP')
      const callId = await inviteAndCancelThroughB('fourth')
      process.kill(dns.pid, 'SIGCONT')
      const refused = (await peer.waitFor(response(503, callId), '503 from A')).msg as SipResponse
      assert.ok(refused.header('retry-after'), 'an admission refusal (Retry-After), not a missing target')
      await until('the mark deleted', async () => (await marks()).length === 0)
    })
  })
})
