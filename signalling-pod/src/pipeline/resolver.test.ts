import assert from 'node:assert/strict'
import {
  dnsOptionsFromEnv,
  orderSrv,
  type Resolve,
  resolveRouteTargets,
  resolveTarget,
  srvName,
} from './resolver.ts'

describe('resolver seam', () => {
  it('names SRV owners per transport (RFC 3263)', () => {
    assert.deepEqual(
      (['TLS', 'TCP', 'UDP'] as const).map((t) => srvName('eun01.sipconnect.bcld.webex.com', t)),
      [
        '_sips._tcp.eun01.sipconnect.bcld.webex.com',
        '_sip._tcp.eun01.sipconnect.bcld.webex.com',
        '_sip._udp.eun01.sipconnect.bcld.webex.com',
      ],
    )
  })

  it('orders SRV records by priority, then by weighted draw', () => {
    const recs = [
      { name: 'p3', port: 5062, priority: 20, weight: 10 },
      { name: 'p1', port: 5062, priority: 10, weight: 90 },
      { name: 'p2', port: 5062, priority: 10, weight: 10 },
    ]
    assert.deepEqual(
      orderSrv(recs, () => 0).map((r) => r.name),
      ['p1', 'p2', 'p3'],
    )
    assert.deepEqual(
      orderSrv(recs, () => 0.99).map((r) => r.name),
      ['p2', 'p1', 'p3'],
    )
  })

  it('expands a target in proxy order: static as is, A with the configured port, SRV with record ports', async () => {
    const resolve: Resolve = async (host, kind, transport) =>
      kind === 'A'
        ? [{ address: '54.172.60.1', port: 0, transport }]
        : host === 'broken.example'
          ? Promise.reject(new Error('SERVFAIL'))
          : [{ address: '85.119.56.1', port: 5062, transport }]
    const out = await resolveTarget(
      {
        group: 'g',
        interfaceName: 'i',
        proxies: [
          {
            address: '10.0.40.248',
            port: 5060,
            transport: 'UDP',
            resolution: 'Static',
            priority: 0,
            weight: 1,
          },
          {
            address: 'broken.example',
            port: 5061,
            transport: 'TLS',
            resolution: 'SRV',
            priority: 1,
            weight: 1,
          },
          {
            address: 'uclabdev.pstn.twilio.com',
            port: 5061,
            transport: 'TLS',
            resolution: 'A',
            priority: 2,
            weight: 1,
          },
          {
            address: 'eun01.sipconnect.bcld.webex.com',
            port: 5061,
            transport: 'TLS',
            resolution: 'SRV',
            priority: 3,
            weight: 1,
          },
        ],
      },
      resolve,
    )
    assert.deepEqual(
      out.map((a) => `${a.address}:${a.port}/${a.transport}`),
      ['10.0.40.248:5060/UDP', '54.172.60.1:5061/TLS', '85.119.56.1:5062/TLS'],
    )
  })

  it('replaces A/SRV proxies by their addresses, keeping the domain and resolution; static targets as they are', async () => {
    const resolve: Resolve = async (_host, _kind, transport) => [
      { address: '127.0.0.1', port: 5070, transport },
      { address: '127.0.0.2', port: 5080, transport },
    ]
    const srv = {
      group: 'webex',
      interfaceName: 'si-webex',
      proxies: [
        {
          address: 'carrier.test',
          port: 5061,
          transport: 'TLS' as const,
          resolution: 'SRV' as const,
          priority: 0,
          weight: 1,
        },
      ],
    }
    const fixed = {
      group: 'pbx',
      interfaceName: 'lan',
      proxies: [
        {
          address: '10.0.0.1',
          port: 5060,
          transport: 'UDP' as const,
          resolution: 'Static' as const,
          priority: 0,
          weight: 1,
        },
      ],
    }
    const [a, b] = await resolveRouteTargets([srv, fixed], resolve)
    assert.equal(b, fixed)
    assert.deepEqual(
      a?.proxies.map((p) => `${p.address}:${p.port} ${p.domain} ${p.resolution}`),
      ['127.0.0.1:5070 carrier.test SRV', '127.0.0.2:5080 carrier.test SRV'],
    )
  })

  it('takes DNS servers from KUBE_SBC_DNS_SERVERS', () => {
    assert.deepEqual(dnsOptionsFromEnv({ KUBE_SBC_DNS_SERVERS: '127.0.0.1:5353, 10.0.0.10' }), {
      servers: ['127.0.0.1:5353', '10.0.0.10'],
    })
    assert.deepEqual(dnsOptionsFromEnv({}), {})
  })
})
