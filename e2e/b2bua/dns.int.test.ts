import assert from 'node:assert/strict'
import { createSocket, type Socket } from 'node:dgram'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { StartedProcess } from '../../test/harness/child-process.ts'
import { freePort } from '../../test/harness/free-port.ts'
import { type RunningSipp, startSipp } from '../../test/harness/sipp.ts'
import {
  configYaml,
  ok,
  type Sbc,
  sample,
  sbcPorts,
  scenario,
  scrape,
  startDnsmasq,
  startSbc,
} from './harness.ts'

/** Signalling only: SDP passes through (media anchoring has its own tests). */
const NO_MEDIA = ['--no-media']

/**
 * Call-time DNS (RFC 3263 §4): the callee group's only proxy is the SRV name carrier.test, served
 * by a dnsmasq this test starts on loopback (`KUBE_SBC_DNS_SERVERS`). Its two records point at two
 * SIPp UASes, priority 10 first, priority 20 second; the SBC must try them in that order and move
 * on when the first does not answer or answers 503 (RFC 3263 §4.3).
 */

const uas = async (port: number, file: string): Promise<RunningSipp> =>
  startSipp({ scenario: { file }, transport: 'u1', localPort: port, calls: 1, timeoutSeconds: 20 })

describe('B2BUA targets resolved through DNS SRV at call time (dnsmasq)', function () {
  this.timeout(60_000)
  let dns: StartedProcess
  let sbc: Sbc
  let uacPort: number
  let first: number
  let second: number

  before(async () => {
    const dnsPort = await freePort()
    uacPort = await freePort()
    first = await freePort()
    second = await freePort()
    dns = await startDnsmasq(dnsPort, [
      `--srv-host=_sip._udp.carrier.test,uas1.test,${first},10,10`,
      `--srv-host=_sip._udp.carrier.test,uas2.test,${second},20,10`,
      '--host-record=uas1.test,127.0.0.1',
      '--host-record=uas2.test,127.0.0.1',
    ])
    const ports = await sbcPorts()
    const yaml = configYaml(ports, uacPort, first, 'UDP').replace(
      `proxySet: { proxies: [{ address: 127.0.0.1, port: ${first}, transport: UDP }] }`,
      'proxySet: { proxies: [{ address: carrier.test, transport: UDP, resolution: SRV }] }',
    )
    assert.match(yaml, /carrier\.test/)
    sbc = await startSbc(ports, uacPort, first, {
      extra: NO_MEDIA,
      yaml,
      env: { KUBE_SBC_DNS_SERVERS: `127.0.0.1:${dnsPort}` },
    })
  })
  after(async () => {
    await sbc?.close()
    await dns?.stop(2000)
  })

  const place = async () =>
    startSipp({
      scenario: { file: await scenario('uac-call.xml') },
      target: `127.0.0.1:${sbc.ports.pbx}`,
      transport: 'u1',
      localPort: uacPort,
      calls: 1,
      timeoutSeconds: 20,
    })

  it('sends the call to the priority-10 SRV target, with the SRV name in the Request-URI', async () => {
    const callee = await uas(
      first,
      await scenario('uas-check.xml', {
        CHECK: `<ereg regexp="INVITE sip:service@carrier\\.test SIP/2\\.0" search_in="msg" check_it="true" assign_to="ruri" /><log message="RURI [$ruri]" />`,
      }),
    )
    await new Promise((r) => setTimeout(r, 200))
    const uac = await place()
    const [a, b] = await Promise.all([uac.result(), callee.result()])
    ok(b, 1, 'UAS at the priority-10 target')
    ok(a, 1, 'UAC')
  })

  it('fails over to the priority-20 target when the first does not answer at all', async () => {
    // A socket that reads and never answers holds `first`: the INVITE goes unanswered, and no other
    // process on the machine can take the free port meanwhile and answer it (seen once in CI).
    const silent = createSocket('udp4')
    await new Promise<void>((resolve, reject) => {
      silent.once('error', reject)
      silent.bind(first, '127.0.0.1', () => resolve())
    })
    const callee = await uas(second, await scenario('uas-answer.xml'))
    await new Promise((r) => setTimeout(r, 200))
    const uac = await place()
    const [a, b] = await Promise.all([uac.result(), callee.result()]).finally(() => silent.close())
    ok(a, 1, 'UAC')
    ok(b, 1, 'UAS at the priority-20 target')
    assert.match(sbc.proc.output(), /B leg INVITE had no response; trying the next target/)
  })

  it('fails over to the priority-20 target when the first answers 503', async () => {
    const busy = await uas(
      first,
      await scenario('uas-reject.xml', { STATUS: '503', REASON: 'Service Unavailable' }),
    )
    const callee = await uas(second, await scenario('uas-answer.xml'))
    await new Promise((r) => setTimeout(r, 200))
    const uac = await place()
    const [a, b, c] = await Promise.all([uac.result(), busy.result(), callee.result()])
    ok(a, 1, 'UAC')
    ok(b, 1, 'UAS answering 503')
    ok(c, 1, 'UAS at the priority-20 target')
  })
})

/**
 * Classification by a proxy set named by DNS (docs/pipeline.md, "Classification"): the carrier's only
 * proxy is the SRV name carrier.test, whose target peer.test is 127.0.0.7. A request from that
 * address must classify to the carrier group before any call was routed there (the SBC resolves its
 * proxy sets itself, in the background), and keep doing so across a config reload even when DNS
 * is gone by then (the last known addresses stay). An OPTIONS from the carrier gets the 200 of rule
 * carrier-options; an unclassified one gets 403 (`unclassified: Reject`).
 */
describe('Classification by an SRV proxy set resolved in the background (dnsmasq)', function () {
  this.timeout(60_000)
  let dns: StartedProcess | undefined
  let sbc: Sbc
  let peerPort: number
  let yaml: string
  const sockets: Socket[] = []

  before(async () => {
    const dnsPort = await freePort()
    const uacPort = await freePort()
    peerPort = await freePort()
    dns = await startDnsmasq(dnsPort, [
      `--srv-host=_sip._udp.carrier.test,peer.test,${peerPort},10,10`,
      '--host-record=peer.test,127.0.0.7',
    ])
    const ports = await sbcPorts()
    yaml = configYaml(ports, uacPort, peerPort, 'UDP', {
      append: `---
apiVersion: sbc.kubesbc.io/v1alpha1
kind: RoutingRule
metadata: { name: carrier-options, namespace: default }
spec:
  order: 10
  match: { sourceIPGroups: [carrier], methods: [OPTIONS] }
  action: { reply: { code: 200 } }
`,
    }).replace(
      `proxySet: { proxies: [{ address: 127.0.0.1, port: ${peerPort}, transport: UDP }] }`,
      'proxySet: { proxies: [{ address: carrier.test, transport: UDP, resolution: SRV }] }',
    )
    assert.match(yaml, /carrier\.test/)
    sbc = await startSbc(ports, uacPort, peerPort, {
      extra: [...NO_MEDIA, '--watch'],
      yaml,
      env: { KUBE_SBC_DNS_SERVERS: `127.0.0.1:${dnsPort}` },
    })
  })
  after(async () => {
    for (const s of sockets) s.close()
    await sbc?.close()
    await dns?.stop(2000)
  })

  /** The status line of the answer to an OPTIONS sent from `address`:`port` to the carrier side. */
  const options = async (address: string, port: number): Promise<string> => {
    const s = createSocket('udp4')
    sockets.push(s)
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject)
      s.bind(port, address, () => resolve())
    })
    const answer = new Promise<string>((resolve) =>
      s.on('message', (buf) => {
        const line = buf.toString('latin1').split('\r\n')[0] ?? ''
        if (!line.startsWith('SIP/2.0 1')) resolve(line)
      }),
    )
    const branch = `z9hG4bK-${Math.random().toString(36).slice(2)}`
    const text = [
      `OPTIONS sip:ping@127.0.0.1:${sbc.ports.carrier} SIP/2.0`,
      `Via: SIP/2.0/UDP ${address}:${port};branch=${branch};rport`,
      'Max-Forwards: 70',
      `From: <sip:peer@${address}>;tag=${branch}`,
      `To: <sip:ping@127.0.0.1:${sbc.ports.carrier}>`,
      `Call-ID: ${branch}@test`,
      'CSeq: 1 OPTIONS',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n')
    s.send(Buffer.from(text, 'latin1'), sbc.ports.carrier, '127.0.0.1')
    try {
      return await answer
    } finally {
      s.close()
      sockets.splice(sockets.indexOf(s), 1)
    }
  }

  it('classifies a request from the SRV target to the group before any call was routed there', async () => {
    await sbc.proc.waitForOutput(/Proxy set addresses for classification/, 10_000)
    assert.match(await options('127.0.0.7', peerPort), /^SIP\/2\.0 200 /)
    assert.match(
      await options('127.0.0.8', peerPort),
      /^SIP\/2\.0 403 /,
      'another address stays unclassified',
    )
  })

  it('keeps classifying it after a config reload, with the last known addresses while DNS is gone', async () => {
    await dns?.stop(2000)
    dns = undefined
    // The resolver's cached answer (TTL 1 s) runs out: the new generation's lookup asks DNS and fails.
    await new Promise((r) => setTimeout(r, 1500))
    await writeFile(
      join(sbc.dir, 'sbc.yaml'),
      yaml.replace('maxConcurrentCalls: 20', 'maxConcurrentCalls: 21'),
    )
    await sbc.proc.waitForOutput(/Applied SbcConfig generation 2/, 10_000)
    assert.match(await options('127.0.0.7', peerPort), /^SIP\/2\.0 200 /, 'right after the swap')
    await sbc.proc.waitForOutput(/lookup for classification failed; keeping the last known addresses/, 15_000)
    assert.match(await options('127.0.0.7', peerPort), /^SIP\/2\.0 200 /, 'after the failed lookup')
    assert.ok(
      sample(
        await scrape(sbc.ports.http),
        'sbc_proxy_set_lookups_total{ip_group="carrier",result="failed"}',
      ) >= 1,
    )
  })
})
