import assert from 'node:assert/strict'
import type { GroupConfig, SbcConfig } from '../../../lib/config/model.ts'
import { inCidr, parseCidr, parseIp } from './address.ts'
import { classify } from './classify.ts'
import { inbound, request, uclabConfig } from './fixtures.ts'
import { CompiledPipeline } from './pipeline.ts'
import { route } from './route.ts'

type Rule = GroupConfig['classification']['rules'][number]
const rule = (name: string, r: Partial<Rule>): Rule => ({
  name,
  sourceCIDRs: [],
  sourcePorts: [],
  peerCertificateNames: [],
  host: null,
  ...r,
})

/** uclab with extra classification rules on siptrunk (interface si-trunk) and the PBX pair. */
function withTrunkRules(...rules: Rule[]): (c: SbcConfig) => void {
  return (c) => {
    c.security.unclassified = 'Allow'
    const trunk = c.groups.find((g) => g.name === 'siptrunk')!
    const twin: GroupConfig = structuredClone(trunk)
    twin.name = 'zz-lab'
    twin.proxies = []
    twin.classification = { fromProxySet: true, rules: rules.filter((r) => r.name.startsWith('lab')) }
    trunk.classification.rules = rules.filter((r) => !r.name.startsWith('lab'))
    c.groups.push(twin)
  }
}

describe('address helpers', () => {
  const cases: [string, string, string, boolean][] = [
    ['matches an IPv4 address inside its /24', '10.0.40.7', '10.0.40.0/24', true],
    ['does not match an IPv4 address outside the block', '10.0.41.7', '10.0.40.0/24', false],
    ['matches everything with /0 in the same family', '203.0.113.1', '0.0.0.0/0', true],
    ['treats an IPv4-mapped IPv6 source as IPv4', '::ffff:10.0.40.7', '10.0.40.0/24', true],
    ['matches an IPv6 address inside its /48', '2001:db8:1:ffff::1', '2001:db8:1::/48', true],
    ['does not match IPv6 outside the /48', '2001:db8:2::1', '2001:db8:1::/48', false],
    ['never matches across families', '10.0.0.1', '::/0', false],
    ['matches a bare address as a host route', '[2001:db8::5]', '2001:db8::5', true],
  ]
  for (const [name, ip, cidr, want] of cases) {
    it(name, () => assert.equal(inCidr(parseIp(ip)!, parseCidr(cidr)!), want))
  }
  it('rejects malformed CIDRs', () => {
    for (const bad of ['10.0.0.0/33', 'host.example/8', '10.0.0.0/x', '2001:db8::/129'])
      assert.equal(parseCidr(bad), undefined, bad)
  })
})

describe('classification step', () => {
  const cases: {
    name: string
    rules: Rule[]
    ctx: Parameters<typeof inbound>[1]
    from?: string
    want: string | null
    why?: RegExp
  }[] = [
    {
      name: 'prefers a proxy-set address over a CIDR rule',
      rules: [rule('lab-any', { sourceCIDRs: ['10.0.0.0/8'] })],
      ctx: { transport: 'UDP', address: '10.0.40.248', port: 5060, interfaceName: 'si-trunk' },
      want: 'siptrunk',
      why: /proxy of the group/,
    },
    {
      name: 'picks the longest matching prefix among CIDR rules',
      rules: [
        rule('wide', { sourceCIDRs: ['10.0.0.0/8'] }),
        rule('lab-narrow', { sourceCIDRs: ['10.1.2.0/24'] }),
      ],
      ctx: { transport: 'UDP', address: '10.1.2.3', interfaceName: 'si-trunk' },
      want: 'zz-lab',
    },
    {
      name: 'classifies IPv6 sources by CIDR',
      rules: [rule('lab-v6', { sourceCIDRs: ['2001:db8:40::/48'] })],
      ctx: { transport: 'TCP', address: '2001:db8:40::99', interfaceName: 'si-trunk' },
      want: 'zz-lab',
    },
    {
      name: 'requires the listed source port as well as the CIDR',
      rules: [rule('lab-port', { sourceCIDRs: ['10.1.0.0/16'], sourcePorts: [5070] })],
      ctx: { transport: 'UDP', address: '10.1.2.3', port: 5060, interfaceName: 'si-trunk' },
      want: null,
      why: /source port 5060 not listed/,
    },
    {
      name: 'matches a *. wildcard certificate name one label deep',
      rules: [rule('lab-cert', { peerCertificateNames: ['*.pbx.example'] })],
      ctx: { transport: 'TLS', address: '198.51.100.1', interfaceName: 'si-trunk', certs: ['a.pbx.example'] },
      want: 'zz-lab',
    },
    {
      name: 'does not let a wildcard cover two labels',
      rules: [rule('lab-cert', { peerCertificateNames: ['*.pbx.example'] })],
      ctx: {
        transport: 'TLS',
        address: '198.51.100.1',
        interfaceName: 'si-trunk',
        certs: ['a.b.pbx.example'],
      },
      want: null,
    },
    {
      name: 'prefers a certificate rule over a CIDR rule',
      rules: [
        rule('wide', { sourceCIDRs: ['198.51.100.0/24'] }),
        rule('lab-cert', { peerCertificateNames: ['pbx.example'] }),
      ],
      ctx: { transport: 'TLS', address: '198.51.100.1', interfaceName: 'si-trunk', certs: ['PBX.example'] },
      want: 'zz-lab',
    },
    {
      name: 'classifies by the host of the named header',
      rules: [rule('lab-host', { host: { header: 'From', values: ['pbx.example'] } })],
      ctx: { transport: 'UDP', address: '198.51.100.1', interfaceName: 'si-trunk' },
      from: '<sip:100@PBX.example>',
      want: 'zz-lab',
    },
    {
      // IPGroup spec.classification.rules[].host.header is one of From, To, RequestURI, Via, Contact.
      name: 'classifies by the Request-URI host (header RequestURI)',
      rules: [rule('lab-ruri', { host: { header: 'RequestURI', values: ['sbc1.uclab.dev'] } })],
      ctx: { transport: 'UDP', address: '198.51.100.1', interfaceName: 'si-trunk' },
      want: 'zz-lab',
    },
    {
      name: 'classifies by the sent-by host of the Via (header Via)',
      rules: [rule('lab-via', { host: { header: 'Via', values: ['192.0.2.10'] } })],
      ctx: { transport: 'UDP', address: '198.51.100.1', interfaceName: 'si-trunk' },
      want: 'zz-lab',
    },
    {
      name: 'ignores rules without any condition',
      rules: [rule('lab-empty', {})],
      ctx: { transport: 'UDP', address: '198.51.100.1', interfaceName: 'si-trunk' },
      want: null,
    },
  ]
  for (const c of cases) {
    it(c.name, () => {
      const p = CompiledPipeline.from(uclabConfig(withTrunkRules(...c.rules)))
      const spec = c.from === undefined ? {} : { from: c.from }
      const r = classify(p.classification, inbound(request('INVITE', spec), c.ctx))
      assert.equal(r.kind, 'pass')
      if (r.kind === 'pass') {
        assert.equal(r.value, c.want, r.why)
        if (c.why) assert.match(r.why, c.why)
      }
    })
  }

  it('tells two groups on one proxy address apart by transport when the source port is a connection port', () => {
    // The PBX at 10.0.40.248 is siptrunk over UDP and, say, a second group over TCP: a TCP request
    // comes from an ephemeral port, never from the proxy's 5060, yet its transport names the group.
    const p = CompiledPipeline.from(
      uclabConfig((c) => {
        const trunk = c.groups.find((g) => g.name === 'siptrunk')!
        const tcp: GroupConfig = structuredClone(trunk)
        tcp.name = 'zz-trunk-tcp'
        tcp.proxies = [{ ...trunk.proxies[0]!, transport: 'TCP' }]
        c.groups.push(tcp)
      }),
    )
    const from = (transport: 'UDP' | 'TCP', port: number) =>
      classify(
        p.classification,
        inbound(request('INVITE'), { transport, address: '10.0.40.248', port, interfaceName: 'si-trunk' }),
      )
    const tcp = from('TCP', 40123)
    assert.deepEqual(tcp.kind === 'pass' && tcp.value, 'zz-trunk-tcp', tcp.why)
    const udp = from('UDP', 5060)
    assert.deepEqual(udp.kind === 'pass' && udp.value, 'siptrunk', udp.why)
  })

  it('breaks a tie by group name also when a hand-written snapshot lists the groups out of order', () => {
    const ctx = {
      transport: 'TLS' as const,
      address: '198.51.100.1',
      interfaceName: 'si-trunk',
      certs: ['pbx.example'],
    }
    const twoCertGroups = withTrunkRules(
      rule('cert', { peerCertificateNames: ['pbx.example'] }),
      rule('lab-cert', { peerCertificateNames: ['pbx.example'] }),
    )
    for (const reversed of [false, true]) {
      const p = CompiledPipeline.from(
        uclabConfig((c) => {
          twoCertGroups(c)
          if (reversed) c.groups.reverse()
        }),
      )
      const r = classify(p.classification, inbound(request('INVITE'), ctx))
      assert.deepEqual(r.kind === 'pass' && r.value, 'siptrunk', `groups reversed: ${reversed}; ${r.why}`)
    }
  })

  it('classifies Twilio by its SIP group name in the From host', () => {
    const p = CompiledPipeline.from(
      uclabConfig((c) => {
        c.groups.find((g) => g.name === 'twilio')!.classification.rules[0]!.host!.values = []
      }),
    )
    const r = classify(
      p.classification,
      inbound(request('INVITE', { from: '<sip:1@uclabdev.pstn.twilio.com>' }), {
        interfaceName: 'si-twilio',
      }),
    )
    assert.deepEqual(r.kind === 'pass' && r.value, 'twilio')
  })
})

describe('routing step', () => {
  const numbered = (c: SbcConfig) => {
    c.routes.splice(1, 0, {
      name: 'emergency',
      order: 15,
      match: {
        sourceIPGroups: ['siptrunk'],
        methods: ['INVITE'],
        sourceNumber: { kind: 'prefix', value: '+4420' },
        destinationNumber: { kind: 'regex', value: '^(?:112|999)$' },
        headers: [{ name: 'priority', present: true, value: { kind: 'exact', value: 'emergency' } }],
      },
      action: {
        type: 'route',
        targets: ['twilio', 'webex'],
        failover: { onStatusCodes: [503], onTimeout: true },
      },
    })
  }
  const cases: { name: string; spec: Parameters<typeof request>[1]; want: string | number }[] = [
    {
      name: 'routes when source number, destination number and header all match',
      spec: {
        uri: 'sip:999@sbc1.uclab.dev',
        from: '<sip:+442071234567@pbx>',
        headers: { Priority: 'emergency' },
      },
      want: 'emergency',
    },
    {
      name: 'falls through to 404 when the destination number differs',
      spec: {
        uri: 'sip:998@sbc1.uclab.dev',
        from: '<sip:+442071234567@pbx>',
        headers: { Priority: 'emergency' },
      },
      want: 404,
    },
    {
      name: 'falls through when the required header is absent',
      spec: { uri: 'sip:999@sbc1.uclab.dev', from: '<sip:+442071234567@pbx>' },
      want: 404,
    },
    {
      name: 'reads the number of a user=phone URI without its parameters',
      spec: {
        uri: 'sip:999;npdi@sbc1.uclab.dev;user=phone',
        from: '<sip:+4420;cpc=ordinary@pbx>',
        headers: { Priority: 'emergency' },
      },
      want: 'emergency',
    },
    {
      // RFC 3966 §4: telephone numbers compare with their visual separators removed.
      name: 'reads tel and user=phone numbers without visual separators',
      spec: {
        uri: 'tel:9-9-9',
        from: '<sip:+44-(20)-7123.4567@pbx;user=phone>',
        headers: { Priority: 'emergency' },
      },
      want: 'emergency',
    },
    {
      name: 'keeps the dots of a user name that is not a telephone number',
      spec: {
        uri: 'sip:999@sbc1.uclab.dev',
        from: '<sip:+44.20@pbx>',
        headers: { Priority: 'emergency' },
      },
      want: 404,
    },
  ]
  for (const c of cases) {
    it(c.name, () => {
      const p = CompiledPipeline.from(uclabConfig(numbered))
      const r = route(p.routes, request('INVITE', c.spec), 'siptrunk')
      assert.equal(r.kind, 'done')
      if (r.kind !== 'done') return
      const d = r.decision
      if (typeof c.want === 'number') assert.deepEqual(d.type === 'reply' && d.code, c.want, r.why)
      else {
        assert.deepEqual(d.type === 'route' && d.rule, c.want, r.why)
        if (d.type === 'route')
          assert.deepEqual(
            d.targets.map((t) => t.group),
            ['twilio', 'webex'],
          )
      }
    })
  }
})
