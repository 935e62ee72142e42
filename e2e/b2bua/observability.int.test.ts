import assert from 'node:assert/strict'
import { startProcess } from '../../test/harness/child-process.ts'
import { freePort } from '../../test/harness/free-port.ts'
import { startSipp } from '../../test/harness/sipp.ts'
import {
  both,
  call,
  carrier2Yaml,
  cdrLines,
  ok,
  type Sbc,
  sample,
  sbcPorts,
  scenario,
  scrape,
  startSbc,
} from './harness.ts'

/**
 * Metrics and CDRs of `kube-sbc run` after real SIPp calls; scanners (sipvicious `svmap`, `sipsak`)
 * dropped without an answer; admission limits answered with 503 and Retry-After.
 */

describe('kube-sbc run: metrics and CDRs after SIPp calls', function () {
  this.timeout(40_000)
  let sbc: Sbc
  let uacPort: number
  let uasPort: number

  before(async () => {
    uacPort = await freePort()
    uasPort = await freePort()
    sbc = await startSbc(await sbcPorts(), uacPort, uasPort)
  })
  after(async () => sbc?.close())

  it('counts attempts, answers, failures and transactions, and writes one CDR per call', async () => {
    await both(
      await call(sbc.ports.pbx, uacPort, uasPort, {
        uac: await scenario('uac-call.xml'),
        uas: await scenario('uas-answer.xml'),
        calls: 2,
      }),
      2,
    )
    await both(
      await call(sbc.ports.pbx, uacPort, uasPort, {
        uac: await scenario('uac-callee-hangs-up.xml'),
        uas: await scenario('uas-answer.xml', { HANGUP_START: '', HANGUP_END: '', PAUSE: '200' }),
      }),
      1,
    )
    await both(
      await call(sbc.ports.pbx, uacPort, uasPort, {
        uac: await scenario('uac-expect-failure.xml', { STATUS: '486' }),
        uas: await scenario('uas-reject.xml', { STATUS: '486', REASON: 'Busy Here' }),
      }),
      1,
    )
    const m = await scrape(sbc.ports.http)
    assert.equal(sample(m, 'sbc_calls_attempted_total{ip_group="pbx",direction="inbound"}'), 4, m)
    assert.equal(sample(m, 'sbc_calls_attempted_total{ip_group="carrier",direction="outbound"}'), 4)
    assert.equal(sample(m, 'sbc_calls_answered_total{ip_group="pbx",direction="inbound"}'), 3)
    assert.equal(sample(m, 'sbc_calls_answered_total{ip_group="carrier",direction="outbound"}'), 3)
    assert.equal(sample(m, 'sbc_calls_failed_total{ip_group="pbx",direction="inbound",code="486"}'), 1)
    assert.equal(sample(m, 'sbc_calls_failed_total{ip_group="carrier",direction="outbound",code="486"}'), 1)
    assert.equal(sample(m, 'sbc_calls_active{ip_group="pbx"}'), 0)
    assert.equal(sample(m, 'sbc_calls_active{ip_group="carrier"}'), 0)
    assert.equal(sample(m, 'sbc_sip_transactions_total{kind="server",method="INVITE"}'), 4)
    assert.equal(sample(m, 'sbc_sip_transactions_total{kind="client",method="INVITE"}'), 4)
    assert.equal(sample(m, 'sbc_sip_transactions_total{kind="server",method="BYE"}'), 3)
    assert.equal(sample(m, 'sbc_routing_decisions_total{type="route",rule="pbx-to-carrier"}'), 4)
    assert.ok(sample(m, 'sbc_signalling_config_generation') >= 1)
    assert.doesNotMatch(m, /sbc_b2bua_/, 'the interim gauges are gone')

    // The process's stdout carries one CDR line per call, written when the call ends.
    const deadline = Date.now() + 5000
    while (cdrLines(sbc.proc.output()).length < 4 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50))
    const cdrs = cdrLines(sbc.proc.output())
    assert.equal(cdrs.length, 4, sbc.proc.output().slice(-3000))
    assert.equal(new Set(cdrs.map((c) => c.callId)).size, 4)
    const by = (c: Record<string, unknown>) => (c.hangup as { by: string; reason: string }).by
    const reason = (c: Record<string, unknown>) => (c.hangup as { reason: string }).reason
    const answered = cdrs.filter((c) => c.finalCode === 200)
    assert.equal(answered.length, 3)
    assert.deepEqual(answered.map(by).sort(), ['callee', 'caller', 'caller'])
    for (const c of answered) {
      assert.equal(reason(c), 'bye')
      assert.equal(c.sourceGroup, 'pbx')
      assert.equal(c.destinationGroup, 'carrier')
      assert.equal(c.routingRule, 'pbx-to-carrier')
      assert.equal(c.from, 'sipp')
      assert.equal(typeof c.answerTime, 'string')
      assert.match(String((c.legB as { sipCallId: string }).sipCallId), /@sbc$/)
      assert.ok((c.totalSeconds as number) >= (c.durationSeconds as number))
    }
    const busy = cdrs.find((c) => c.finalCode === 486)
    assert.ok(busy)
    assert.equal(by(busy), 'callee')
    assert.equal(reason(busy), 'rejected')
    assert.equal(busy.answerTime, null)
    assert.equal(busy.durationSeconds, 0)
  })
})

describe('kube-sbc run: scanners and admission on the wire', function () {
  this.timeout(60_000)
  let sbc: Sbc
  let uacPort: number
  let uasPort: number

  before(async () => {
    uacPort = await freePort()
    uasPort = await freePort()
    sbc = await startSbc(await sbcPorts(), uacPort, uasPort, { config: { maxCalls: 3 } })
  })
  after(async () => sbc?.close())

  it('svmap (sipvicious) finds nothing: its OPTIONS and INVITE are dropped and counted', async () => {
    for (const method of ['OPTIONS', 'INVITE']) {
      const p = startProcess('svmap', [`-p${sbc.ports.pbx}`, '-m', method, '127.0.0.1'])
      assert.equal(await p.exited, 0, p.output())
      assert.match(p.output(), /found nothing/)
    }
    const m = await scrape(sbc.ports.http)
    assert.ok(sample(m, 'sbc_scanners_blocked_total{signature="friendly-scanner",action="drop"}') >= 2, m)
  })

  it('sipsak gets no answer (it times out) and is counted', async () => {
    const p = startProcess('sipsak', ['-Z', '100', '-s', `sip:test@127.0.0.1:${sbc.ports.pbx}`])
    // sipsak(1): exit 3 when no reply came before its timeout.
    assert.equal(await p.exited, 3, p.output())
    const m = await scrape(sbc.ports.http)
    assert.ok(sample(m, 'sbc_scanners_blocked_total{signature="sipsak",action="drop"}') >= 1, m)
  })

  it('the 4th concurrent call on a 3-call group gets 503 with Retry-After', async () => {
    const held = await call(sbc.ports.pbx, uacPort, uasPort, {
      uac: await scenario('uac-call.xml', { PAUSE: '4000' }),
      uas: await scenario('uas-answer.xml'),
      calls: 3,
      rate: 50,
    })
    const deadline = Date.now() + 5000
    while (
      sample(await scrape(sbc.ports.http), 'sbc_calls_active{ip_group="carrier"}') < 3 &&
      Date.now() < deadline
    )
      await new Promise((r) => setTimeout(r, 50))
    const refused = await startSipp({
      scenario: {
        file: await scenario('uac-expect-failure.xml', {
          STATUS: '503',
          CHECK:
            '<action><ereg regexp="[0-9]+" search_in="hdr" header="Retry-After:" check_it="true" assign_to="ra" /><log message="Retry-After [$ra]" /></action>',
        }),
      },
      target: `127.0.0.1:${sbc.ports.pbx}`,
      transport: 'u1',
      localPort: await freePort(),
      calls: 1,
      timeoutSeconds: 10,
    })
    ok(await refused.result(), 1, 'UAC expecting 503')
    await both(held, 3)
    const m = await scrape(sbc.ports.http)
    assert.equal(
      sample(m, 'sbc_admission_rejections_total{ip_group="carrier",cause="max-concurrent-calls"}'),
      1,
      m,
    )
    assert.equal(sample(m, 'sbc_calls_failed_total{ip_group="pbx",direction="inbound",code="503"}'), 1)
  })
})

describe('kube-sbc run: failover to the next target', function () {
  this.timeout(40_000)
  let sbc: Sbc
  let uacPort: number
  let uasPort: number
  let uas2Port: number

  before(async () => {
    uacPort = await freePort()
    uasPort = await freePort()
    uas2Port = await freePort()
    sbc = await startSbc(await sbcPorts(), uacPort, uasPort, {
      config: {
        append: `${carrier2Yaml(uas2Port, { maxConcurrentCalls: 5 })}---
apiVersion: sbc.kubesbc.io/v1alpha1
kind: RoutingRule
metadata: { name: failover, namespace: default }
spec:
  order: 10
  match: { sourceIPGroups: [pbx], destinationNumber: { exact: failover } }
  action: { route: { targets: [{ ipGroup: carrier }, { ipGroup: carrier2 }], failover: { onStatusCodes: [503] } } }
`,
      },
    })
  })
  after(async () => sbc?.close())

  it('the first target answers 503, the second answers: the call goes through', async () => {
    const first = await startSipp({
      scenario: { file: await scenario('uas-reject.xml', { STATUS: '503', REASON: 'Service Unavailable' }) },
      transport: 'u1',
      localPort: uasPort,
      calls: 1,
      timeoutSeconds: 15,
    })
    const second = await startSipp({
      scenario: { file: await scenario('uas-answer.xml') },
      transport: 'u1',
      localPort: uas2Port,
      calls: 1,
      timeoutSeconds: 15,
    })
    await new Promise((r) => setTimeout(r, 200))
    const uac = await startSipp({
      scenario: { file: await scenario('uac-call.xml') },
      target: `127.0.0.1:${sbc.ports.pbx}`,
      transport: 'u1',
      localPort: uacPort,
      calls: 1,
      timeoutSeconds: 15,
      extra: ['-s', 'failover'],
    })
    const [u, f, s] = await Promise.all([uac.result(), first.result(), second.result()])
    ok(u, 1, 'UAC')
    ok(f, 1, 'first target (503)')
    ok(s, 1, 'second target')
    const m = await scrape(sbc.ports.http)
    assert.equal(
      sample(m, 'sbc_calls_failed_total{ip_group="carrier",direction="outbound",code="503"}'),
      1,
      m,
    )
    assert.equal(sample(m, 'sbc_calls_answered_total{ip_group="carrier2",direction="outbound"}'), 1)
    assert.equal(sample(m, 'sbc_calls_answered_total{ip_group="pbx",direction="inbound"}'), 1)
    const deadline = Date.now() + 5000
    while (cdrLines(sbc.proc.output()).length < 1 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50))
    const [cdr] = cdrLines(sbc.proc.output())
    assert.equal(cdr?.destinationGroup, 'carrier2')
    assert.equal(cdr?.routingRule, 'failover')
  })
})
