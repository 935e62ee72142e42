import assert from 'node:assert/strict'
import { Registry } from 'prom-client'
import { SignallingMetrics } from './metrics.ts'

async function scrape(feed: (m: SignallingMetrics) => void): Promise<string> {
  const registry = new Registry()
  const m = new SignallingMetrics(registry)
  feed(m)
  return registry.metrics()
}

describe('SignallingMetrics', () => {
  const cases: { name: string; feed: (m: SignallingMetrics) => void; want: string[] }[] = [
    {
      name: 'counts attempts, answers and failures by IP group, direction and code',
      feed: (m) => {
        m.callsAttempted.inc({ ip_group: 'webex', direction: 'inbound' }, 3)
        m.recordFinal('webex', 'inbound', 200)
        m.recordFinal('webex', 'inbound', 486)
        m.callsActive.set({ ip_group: 'webex' }, 1)
      },
      want: [
        'sbc_calls_attempted_total{ip_group="webex",direction="inbound"} 3',
        'sbc_calls_answered_total{ip_group="webex",direction="inbound"} 1',
        'sbc_calls_failed_total{ip_group="webex",direction="inbound",code="486"} 1',
        'sbc_calls_active{ip_group="webex"} 1',
      ],
    },
    {
      name: 'counts scanners per signature and unclassified traffic per action',
      feed: (m) => {
        m.recordDecision({ type: 'drop', reason: 'scanner', signature: 'sipsak' })
        m.recordDecision({
          type: 'reply',
          code: 403,
          reason: 'Forbidden',
          sourceGroup: null,
          signature: 'sipvicious',
        })
        m.recordDecision({ type: 'drop', reason: 'unclassified' })
        m.recordDecision({ type: 'reply', code: 403, reason: 'Forbidden', sourceGroup: null })
        m.recordDecision({
          type: 'reply',
          code: 200,
          reason: 'OK',
          sourceGroup: 'webex',
          rule: 'terminate-options',
        })
      },
      want: [
        'sbc_scanners_blocked_total{signature="sipsak",action="drop"} 1',
        'sbc_scanners_blocked_total{signature="sipvicious",action="reject"} 1',
        'sbc_unclassified_requests_total{action="drop"} 1',
        'sbc_unclassified_requests_total{action="reject"} 1',
        'sbc_routing_decisions_total{type="reply",rule="terminate-options"} 1',
      ],
    },
    {
      name: 'records Redis latency in seconds and errors by code from the store observer',
      feed: (m) => {
        m.redisObserver({ command: 'sbcAcquire', durationMs: 0.4, ok: true })
        m.redisObserver({
          command: 'sbcAcquire',
          durationMs: 80,
          ok: false,
          error: 'SBC_ERR_STATE_UNAVAILABLE',
        })
        m.redisUp.set(1)
      },
      want: [
        'sbc_redis_command_duration_seconds_bucket{le="0.0005",command="sbcAcquire"} 1',
        'sbc_redis_command_duration_seconds_bucket{le="0.05",command="sbcAcquire"} 1',
        'sbc_redis_command_duration_seconds_bucket{le="0.1",command="sbcAcquire"} 2',
        'sbc_redis_command_duration_seconds_bucket{le="+Inf",command="sbcAcquire"} 2',
        'sbc_redis_command_duration_seconds_count{command="sbcAcquire"} 2',
        'sbc_redis_errors_total{command="sbcAcquire",code="SBC_ERR_STATE_UNAVAILABLE"} 1',
        'sbc_redis_up 1',
      ],
    },
    {
      name: 'exposes transactions, retransmissions, parse errors, admission, generation and drain state',
      feed: (m) => {
        m.transactions.inc({ kind: 'server', method: 'INVITE' })
        m.retransmissions.inc({ method: 'INVITE' })
        m.parseErrors.inc({ reason: 'bad-start-line' })
        m.admissionRejections.inc({ ip_group: 'webex', cause: 'max-concurrent-calls' })
        m.proxyUp.set({ ip_group: 'twilio', proxy: 'uclabdev.pstn.twilio.com:5061' }, 1)
        m.configGeneration.set(7)
        m.draining.set(1)
      },
      want: [
        'sbc_sip_transactions_total{kind="server",method="INVITE"} 1',
        'sbc_sip_retransmissions_total{method="INVITE"} 1',
        'sbc_sip_parse_errors_total{reason="bad-start-line"} 1',
        'sbc_admission_rejections_total{ip_group="webex",cause="max-concurrent-calls"} 1',
        'sbc_sip_proxy_up{ip_group="twilio",proxy="uclabdev.pstn.twilio.com:5061"} 1',
        'sbc_signalling_config_generation 7',
        'sbc_signalling_draining 1',
      ],
    },
  ]
  for (const c of cases) {
    it(c.name, async () => {
      const text = await scrape(c.feed)
      for (const line of c.want) assert.ok(text.split('\n').includes(line), `missing ${line}\n${text}`)
    })
  }

  it('hands per-call counts to Prometheus on each scrape, once, beside direct increments', async () => {
    const registry = new Registry()
    const m = new SignallingMetrics(registry)
    const lines = async () => (await registry.metrics()).split('\n')
    m.recordAttempt('webex', 'inbound')
    m.recordAttempt('webex', 'outbound')
    m.callsAttempted.inc({ ip_group: 'webex', direction: 'inbound' }, 2)
    m.recordFinal('pbx', 'outbound', 503)
    m.recordTransaction('client', 'BYE')
    m.callActive('webex', 1)
    m.callActive('pbx', 1)
    let text = await lines()
    assert.ok(text.includes('sbc_calls_attempted_total{ip_group="webex",direction="inbound"} 3'))
    assert.ok(text.includes('sbc_calls_attempted_total{ip_group="webex",direction="outbound"} 1'))
    assert.ok(text.includes('sbc_calls_failed_total{ip_group="pbx",direction="outbound",code="503"} 1'))
    assert.ok(text.includes('sbc_sip_transactions_total{kind="client",method="BYE"} 1'))
    assert.ok(text.includes('sbc_calls_active{ip_group="webex"} 1'))
    // A second scrape adds only what happened since the first.
    m.recordAttempt('webex', 'inbound')
    m.recordFinal('pbx', 'outbound', 503)
    m.callActive('webex', -1)
    text = await lines()
    assert.ok(text.includes('sbc_calls_attempted_total{ip_group="webex",direction="inbound"} 4'))
    assert.ok(text.includes('sbc_calls_failed_total{ip_group="pbx",direction="outbound",code="503"} 2'))
    assert.ok(text.includes('sbc_calls_active{ip_group="webex"} 0'))
    assert.ok(text.includes('sbc_calls_active{ip_group="pbx"} 1'))
    text = await lines()
    assert.ok(text.includes('sbc_calls_attempted_total{ip_group="webex",direction="inbound"} 4'))
  })

  it('names every counter with _total and every metric with the sbc_ prefix', async () => {
    const text = await scrape(() => {})
    const types = [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1]!, m[2]!] as const)
    assert.ok(types.length >= 17)
    for (const [name, type] of types) {
      assert.match(name, /^sbc_/)
      if (type === 'counter') assert.match(name, /_total$/)
    }
  })
})
