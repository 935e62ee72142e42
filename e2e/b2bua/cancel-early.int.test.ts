import assert from 'node:assert/strict'
import { createSocket, type Socket } from 'node:dgram'
import type { StartedProcess } from '../../test/harness/child-process.ts'
import { freePort } from '../../test/harness/free-port.ts'
import { startSipp } from '../../test/harness/sipp.ts'
import {
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
      append: `---
apiVersion: sbc.kubesbc.io/v1alpha1
kind: IPGroup
metadata: { name: carrier2, namespace: default }
spec:
  sipInterfaceRef: { name: carrier-side }
  ipProfileRef: { name: default }
  proxySet: { proxies: [{ address: slow2.test, port: ${uasPort}, transport: UDP, resolution: A }] }
---
apiVersion: sbc.kubesbc.io/v1alpha1
kind: RoutingRule
metadata: { name: second-to-carrier2, namespace: default }
spec:
  order: 10
  match: { sourceIPGroups: [pbx], destinationNumber: { exact: second } }
  action: { route: { targets: [{ ipGroup: carrier2 }] } }
`,
    }).replace(
      `proxySet: { proxies: [{ address: 127.0.0.1, port: ${uasPort}, transport: UDP }] }`,
      `proxySet: { proxies: [{ address: slow1.test, port: ${uasPort}, transport: UDP, resolution: A }] }`,
    )

  before(async () => {
    store = await startStore()
    const dnsPort = await freePort()
    dns = await startDnsmasq(dnsPort, [
      '--host-record=slow1.test,127.0.0.1',
      '--host-record=slow2.test,127.0.0.1',
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
})
