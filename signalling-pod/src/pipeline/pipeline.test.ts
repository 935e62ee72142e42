import assert from 'node:assert/strict'
import type { SbcConfig } from '../../../lib/config/model.ts'
import { inbound, request, uclabConfig } from './fixtures.ts'
import {
  CompiledPipeline,
  type Decision,
  decide,
  decideWithTrace,
  type InboundContext,
  PipelineConfigError,
} from './pipeline.ts'

const WEBEX_PEER = 'peering2.eun.sipconnect.bcld.webex.com'
const TWILIO_FROM = '<sip:+15551112222@uclabdev.pstn.twilio.com>'

interface Case {
  name: string
  config?: (c: SbcConfig) => void
  ctx: InboundContext
  learn?: { group: string; address: string }
  want: Partial<Decision> & { type: Decision['type'] }
  targets?: string[]
}

const cases: Case[] = [
  {
    name: 'answers OPTIONS from Webex locally with 200 by the first rule',
    ctx: inbound(request('OPTIONS'), { certs: [WEBEX_PEER] }),
    want: { type: 'reply', code: 200, reason: 'OK', sourceGroup: 'webex', rule: 'terminate-options' },
  },
  {
    name: 'answers OPTIONS from Twilio locally with 200',
    ctx: inbound(request('OPTIONS', { from: TWILIO_FROM }), { interfaceName: 'si-twilio' }),
    want: { type: 'reply', code: 200, sourceGroup: 'twilio', rule: 'terminate-options' },
  },
  {
    name: 'answers OPTIONS from the PBX pair locally with 200',
    ctx: inbound(request('OPTIONS'), {
      transport: 'UDP',
      address: '10.0.39.248',
      port: 5060,
      interfaceName: 'si-trunk',
    }),
    want: { type: 'reply', code: 200, sourceGroup: 'siptrunk', rule: 'terminate-options' },
  },
  {
    name: 'answers OPTIONS from an unknown source with 200 when unclassified traffic is allowed',
    config: (c) => {
      c.security.unclassified = 'Allow'
    },
    ctx: inbound(request('OPTIONS'), { address: '203.0.113.9' }),
    want: { type: 'reply', code: 200, sourceGroup: null, rule: 'terminate-options' },
  },
  {
    name: 'routes an INVITE from a Webex peer certificate to twilio',
    ctx: inbound(request('INVITE'), { certs: ['sbc-client', WEBEX_PEER] }),
    want: { type: 'route', sourceGroup: 'webex', rule: 'webex-to-twilio' },
    targets: ['twilio'],
  },
  {
    name: 'routes an INVITE from an address the Webex SRV resolved to, to twilio',
    learn: { group: 'webex', address: '198.51.100.7' },
    ctx: inbound(request('INVITE'), { address: '198.51.100.7' }),
    want: { type: 'route', sourceGroup: 'webex', rule: 'webex-to-twilio' },
    targets: ['twilio'],
  },
  {
    name: 'routes an INVITE from the Twilio domain to webex',
    ctx: inbound(request('INVITE', { from: TWILIO_FROM }), {
      interfaceName: 'si-twilio',
      address: '54.172.60.1',
    }),
    want: { type: 'route', sourceGroup: 'twilio', rule: 'twilio-to-webex' },
    targets: ['webex'],
  },
  {
    name: 'drops a SIPVicious friendly-scanner silently, before classification',
    ctx: inbound(request('OPTIONS', { userAgent: 'friendly-scanner' }), { certs: [WEBEX_PEER] }),
    want: { type: 'drop', reason: 'scanner', signature: 'friendly-scanner' },
  },
  {
    name: 'drops a sipsak User-Agent whatever its case and version',
    ctx: inbound(request('INVITE', { userAgent: 'SIPsak 0.9.7' }), { address: '203.0.113.9' }),
    want: { type: 'drop', reason: 'scanner', signature: 'sipsak' },
  },
  {
    name: 'answers 403 to a scanner whose signature action is Reject',
    config: (c) => {
      c.security.maliciousSignatures[0]!.action = 'Reject'
    },
    ctx: inbound(request('INVITE', { userAgent: 'friendly-scanner' })),
    want: { type: 'reply', code: 403, sourceGroup: null, signature: 'friendly-scanner' },
  },
  {
    name: 'rejects an unclassified INVITE with 403 under the uclab Reject policy',
    ctx: inbound(request('INVITE'), { address: '203.0.113.9' }),
    want: { type: 'reply', code: 403, reason: 'Forbidden', sourceGroup: null },
  },
  {
    name: 'drops an unclassified INVITE silently under the Drop policy',
    config: (c) => {
      c.security.unclassified = 'Drop'
    },
    ctx: inbound(request('INVITE'), { address: '203.0.113.9' }),
    want: { type: 'drop', reason: 'unclassified' },
  },
  {
    name: 'answers 404 to an allowed unclassified INVITE that no rule matches',
    config: (c) => {
      c.security.unclassified = 'Allow'
    },
    ctx: inbound(request('INVITE'), { address: '203.0.113.9' }),
    want: { type: 'reply', code: 404, sourceGroup: null },
  },
  {
    name: 'does not classify a Webex certificate presented on the Twilio interface',
    ctx: inbound(request('INVITE'), { interfaceName: 'si-twilio', certs: [WEBEX_PEER] }),
    want: { type: 'reply', code: 403, sourceGroup: null },
  },
  {
    name: 'does not trust certificate names offered over TCP',
    ctx: inbound(request('INVITE'), { transport: 'TCP', certs: [WEBEX_PEER] }),
    want: { type: 'reply', code: 403, sourceGroup: null },
  },
  {
    name: 'answers 404 to an INVITE from the PBX, which uclab does not route',
    ctx: inbound(request('INVITE'), {
      transport: 'UDP',
      address: '10.0.40.248',
      port: 5060,
      interfaceName: 'si-trunk',
    }),
    want: { type: 'reply', code: 404, reason: 'Not Found', sourceGroup: 'siptrunk' },
  },
]

describe('pipeline decide (uclab)', () => {
  for (const c of cases) {
    it(c.name, () => {
      const p = CompiledPipeline.from(uclabConfig(c.config))
      if (c.learn)
        p.learnProxyAddresses(c.learn.group, [{ address: c.learn.address, port: null, transport: 'TLS' }])
      const d = decide(p, c.ctx)
      assert.deepEqual(pick(d, Object.keys(c.want)), c.want)
      if (c.targets) {
        assert.equal(d.type, 'route')
        if (d.type === 'route')
          assert.deepEqual(
            d.targets.map((t) => t.group),
            c.targets,
          )
      }
    })
  }

  it('resolves the twilio target with its interface, A proxy and failover codes', () => {
    const p = CompiledPipeline.from(uclabConfig())
    const d = decide(p, inbound(request('INVITE'), { certs: [WEBEX_PEER] }))
    assert.deepEqual(d, {
      type: 'route',
      sourceGroup: 'webex',
      rule: 'webex-to-twilio',
      targets: [
        {
          group: 'twilio',
          interfaceName: 'si-twilio',
          proxies: [
            {
              address: 'uclabdev.pstn.twilio.com',
              port: 5061,
              transport: 'TLS',
              resolution: 'A',
              priority: 0,
              weight: 1,
            },
          ],
        },
      ],
      failover: { onStatusCodes: [408, 500, 502, 503, 504], onTimeout: true },
    })
  })

  it('defaults the port of the Webex SRV proxy to 5061 for TLS', () => {
    const p = CompiledPipeline.from(uclabConfig())
    const d = decide(p, inbound(request('INVITE', { from: TWILIO_FROM }), { interfaceName: 'si-twilio' }))
    assert.equal(d.type, 'route')
    if (d.type === 'route')
      assert.deepEqual(
        d.targets[0]?.proxies.map((x) => [x.port, x.resolution]),
        [[5061, 'SRV']],
      )
  })

  it('traces every step with a reason', () => {
    const p = CompiledPipeline.from(uclabConfig())
    const { trace } = decideWithTrace(p, inbound(request('INVITE'), { address: '203.0.113.9' }))
    assert.deepEqual(
      trace.map((t) => [t.step, t.outcome]),
      [
        ['scanner', 'pass'],
        ['classification', 'done'],
      ],
    )
    assert.match(trace[1]!.why, /unclassified on si-webex .*policy Reject/)
  })

  it('refuses header names that are not tokens in a hand-written snapshot, rather than throw on every request', () => {
    // The CRDs only let tokens through; `kube-sbc signalling --config FILE` takes any string.
    const bad = uclabConfig((c) => {
      c.security.maliciousSignatures.push({
        name: 'spaced',
        header: 'User Agent',
        match: { kind: 'prefix', value: 'x' },
        action: 'Drop',
      })
      c.routes[0]!.match.headers.push({ name: 'X:Y', present: true, value: null })
      c.groups
        .find((g) => g.name === 'twilio')!
        .classification.rules.push({
          name: 'bad-host',
          sourceCIDRs: [],
          sourcePorts: [],
          peerCertificateNames: [],
          host: { header: 'Via Header', values: ['x.example'] },
        })
    })
    assert.throws(
      () => CompiledPipeline.from(bad),
      (e: unknown) =>
        e instanceof PipelineConfigError &&
        e.problems.length === 3 &&
        e.problems.every((p) => /is not a header name/.test(p)),
    )
  })
})

function pick(d: Decision, keys: string[]): Record<string, unknown> {
  const r = d as unknown as Record<string, unknown>
  return Object.fromEntries(keys.map((k) => [k, r[k]]))
}
