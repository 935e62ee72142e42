import assert from 'node:assert/strict'
import { type SpecIssue, validateSpec } from './validate-spec.ts'

const realm = { network: 'WAN', portRange: { min: 20000, max: 20399 } }
const tlsIface = {
  network: 'WAN',
  listeners: [{ transport: 'TLS', port: 5062 }],
  tls: { secretRef: { name: 'sbc-tls' } },
  mediaRealmRef: { name: 'mr-webex' },
}

function fields(issues: readonly SpecIssue[]) {
  return issues.map((i) => `${i.field}: ${i.message}`)
}

describe('validateSpec', () => {
  it('accepts a valid spec and applies schema defaults', () => {
    const r = validateSpec<{ maxSessions: number }>('MediaRealm', realm)
    assert.deepEqual(r.issues, [])
    assert.equal(r.value.maxSessions, 100)
  })

  const cases: { name: string; kind: Parameters<typeof validateSpec>[0]; spec: unknown; expect: string }[] = [
    {
      name: 'rejects a port range whose min exceeds max',
      kind: 'MediaRealm',
      spec: { ...realm, portRange: { min: 7000, max: 6000 } },
      expect: 'spec.portRange: min must not exceed max',
    },
    {
      name: 'rejects a network other than LAN or WAN',
      kind: 'MediaRealm',
      spec: { ...realm, network: 'DMZ' },
      expect: 'spec.network: must be one of LAN, WAN (got "DMZ")',
    },
    {
      name: 'rejects an invalid bind address',
      kind: 'MediaRealm',
      spec: { ...realm, bindAddress: '10.0.40' },
      expect: 'spec.bindAddress: must be an IPv4 or IPv6 address',
    },
    {
      name: 'rejects an unknown field',
      kind: 'MediaRealm',
      spec: { ...realm, portRnage: {} },
      expect: 'spec.portRnage: unexpected property',
    },
    {
      name: 'rejects a TLS listener without TLS settings',
      kind: 'SipInterface',
      spec: { ...tlsIface, tls: undefined },
      expect: 'spec.tls: a TLS listener needs tls.secretRef',
    },
    {
      name: 'rejects mutual auth without a client CA',
      kind: 'SipInterface',
      spec: { ...tlsIface, tls: { secretRef: { name: 's' }, mutualAuth: true } },
      expect: 'spec.tls: mutual authentication needs clientCASecretRef',
    },
    {
      name: 'rejects two stream listeners on one port',
      kind: 'SipInterface',
      spec: {
        ...tlsIface,
        listeners: [
          { transport: 'TLS', port: 5061 },
          { transport: 'TCP', port: 5061 },
        ],
      },
      expect: 'spec.listeners: listener ports must be unique per protocol (TCP and TLS share TCP ports)',
    },
    {
      name: 'rejects a port above 65535',
      kind: 'SipInterface',
      spec: { ...tlsIface, listeners: [{ transport: 'TLS', port: 70000 }] },
      expect: 'spec.listeners[0].port: expected integer to be less or equal to 65535',
    },
    {
      name: 'rejects a routing action with both route and reply',
      kind: 'RoutingRule',
      spec: { order: 1, action: { reply: { code: 200 }, route: { targets: [{ ipGroup: 'a' }] } } },
      expect: 'spec.action: exactly one of route or reply is required',
    },
    {
      name: 'rejects a routing action with neither route nor reply',
      kind: 'RoutingRule',
      spec: { order: 1, action: {} },
      expect: 'spec.action: exactly one of route or reply is required',
    },
    {
      name: 'rejects a number pattern with both prefix and regex',
      kind: 'RoutingRule',
      spec: {
        order: 1,
        match: { destinationNumber: { prefix: '+49', regex: '.*' } },
        action: { reply: { code: 404 } },
      },
      expect: 'spec.match.destinationNumber: exactly one of prefix, exact or regex is required',
    },
    {
      name: 'rejects a Static proxy given by name',
      kind: 'IPGroup',
      spec: {
        sipInterfaceRef: { name: 'a' },
        ipProfileRef: { name: 'b' },
        proxySet: { proxies: [{ address: 'pbx.example.com', resolution: 'Static', transport: 'UDP' }] },
      },
      expect: 'spec.proxySet.proxies[0]: resolution Static needs an IP address',
    },
    {
      name: 'rejects an SRV proxy with a port',
      kind: 'IPGroup',
      spec: {
        sipInterfaceRef: { name: 'a' },
        ipProfileRef: { name: 'b' },
        proxySet: {
          proxies: [{ address: 'sip.example.com', port: 5061, resolution: 'SRV', transport: 'TLS' }],
        },
      },
      expect: 'spec.proxySet.proxies[0]: a port must not be given with SRV resolution',
    },
    {
      name: 'rejects a Remove manipulation with a value',
      kind: 'IPGroup',
      spec: {
        sipInterfaceRef: { name: 'a' },
        ipProfileRef: { name: 'b' },
        proxySet: { proxies: [{ address: '10.0.0.1', transport: 'UDP' }] },
        manipulations: [{ name: 'x', header: 'X-Foo', action: 'Remove', value: 'y' }],
      },
      expect:
        'spec.manipulations[0]: value is required for every action except Remove, and forbidden for Remove',
    },
    {
      name: 'rejects a classification prefix that is not CIDR',
      kind: 'IPGroup',
      spec: {
        sipInterfaceRef: { name: 'a' },
        ipProfileRef: { name: 'b' },
        proxySet: { proxies: [{ address: '10.0.0.1', transport: 'UDP' }] },
        classification: { rules: [{ name: 'r', sourceCIDRs: ['10.0.0.0/33'] }] },
      },
      expect:
        'spec.classification.rules[0].sourceCIDRs[0]: must be an IP prefix in CIDR notation, e.g. 10.0.40.0/24',
    },
    {
      name: 'rejects duplicate codec payload types',
      kind: 'IPProfile',
      spec: {
        media: {
          codecs: [
            { name: 'opus', payloadType: 111 },
            { name: 'G722', payloadType: 111 },
          ],
        },
      },
      expect: 'spec.media.codecs: payload types must be unique',
    },
    {
      name: 'rejects Min-SE above Session-Expires',
      kind: 'IPProfile',
      spec: { sessionTimer: { enabled: true, sessionExpiresSeconds: 100, minSESeconds: 200 } },
      expect: 'spec.sessionTimer: minSESeconds must not exceed sessionExpiresSeconds',
    },
    {
      name: 'rejects Redis url together with Sentinel',
      kind: 'SessionBorderController',
      spec: { redis: { url: 'redis://r:6379', sentinel: { masterName: 'm', addresses: ['s:26379'] } } },
      expect: 'spec.redis: url and sentinel are mutually exclusive',
    },
    {
      name: 'rejects a resource quantity that is not one',
      kind: 'SessionBorderController',
      spec: { signalling: { resources: { limits: { cpu: 'lots' } } } },
      expect: 'spec.signalling.resources.limits.cpu: must be an integer or a quantity such as 500m or 1Gi',
    },
  ]
  for (const c of cases) {
    it(c.name, () => {
      assert.ok(
        fields(validateSpec(c.kind, c.spec).issues).includes(c.expect),
        fields(validateSpec(c.kind, c.spec).issues).join('\n'),
      )
    })
  }

  it('accepts a quantity given as a string or an integer', () => {
    const r = validateSpec('SessionBorderController', {
      signalling: { resources: { limits: { cpu: '500m', memory: 1024 } } },
    })
    assert.deepEqual(r.issues, [])
  })

  it('reports a missing spec', () => {
    assert.deepEqual(fields(validateSpec('IPGroup', undefined).issues), ['spec: is required'])
  })
})
