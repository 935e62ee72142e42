import assert from 'node:assert/strict'
import { createSocket } from 'node:dgram'
import type { StartedProcess } from '../../test/harness/child-process.ts'
import { freePort } from '../../test/harness/free-port.ts'
import { type RunningSipp, startSipp } from '../../test/harness/sipp.ts'
import { configYaml, ok, type Sbc, sbcPorts, scenario, startDnsmasq, startSbc } from './harness.ts'

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
