import assert from 'node:assert/strict'
import type { Via } from '../message/headers/via.ts'
import { responseDestination, viaReceivedParams } from './response-destination.ts'
import type { TransportAddress, TransportProtocol } from './transport.ts'

function via(
  transport: string,
  host: string,
  port: number | undefined,
  params: [string, string | null][] = [],
): Via {
  return { protocol: 'SIP', version: '2.0', transport, host, port, params }
}
function source(transport: TransportProtocol, address: string, port: number): TransportAddress {
  return { transport, address, port, family: address.includes(':') ? 'IPv6' : 'IPv4' }
}

describe('responseDestination (RFC 3261 §18.2.2, RFC 3581 §4)', () => {
  const cases: [string, Via, TransportAddress, string | undefined, object][] = [
    [
      'UDP, sent-by equals source: to sent-by host and port',
      via('UDP', '192.0.2.1', 5070),
      source('udp', '192.0.2.1', 5070),
      undefined,
      { transport: 'udp', address: '192.0.2.1', port: 5070 },
    ],
    [
      'UDP, sent-by differs from source: to the received address and the sent-by port',
      via('UDP', '10.0.0.1', 5070),
      source('udp', '198.51.100.7', 40001),
      undefined,
      { transport: 'udp', address: '198.51.100.7', port: 5070 },
    ],
    [
      'UDP, sent-by a domain without port: to the source address, port 5060',
      via('UDP', 'pbx.example.com', undefined),
      source('udp', '198.51.100.7', 40001),
      undefined,
      { transport: 'udp', address: '198.51.100.7', port: 5060 },
    ],
    [
      'UDP with an empty rport: to the source address and source port',
      via('UDP', '10.0.0.1', 5060, [['rport', null]]),
      source('udp', '198.51.100.7', 40001),
      undefined,
      { transport: 'udp', address: '198.51.100.7', port: 40001 },
    ],
    [
      'UDP with maddr and sent-by equal to source: to maddr and the sent-by port',
      via('UDP', '192.0.2.1', 5062, [['maddr', '239.255.255.1']]),
      source('udp', '192.0.2.1', 5062),
      undefined,
      { transport: 'udp', address: '239.255.255.1', port: 5062 },
    ],
    [
      'TCP: on the original connection, falling back to received and the sent-by port',
      via('TCP', '10.0.0.1', 5060),
      source('tcp', '198.51.100.7', 40001),
      'conn-1',
      { transport: 'tcp', address: '198.51.100.7', port: 5060, connectionId: 'conn-1' },
    ],
    [
      'TLS without port: falls back to port 5061',
      via('TLS', 'client.example.com', undefined),
      source('tls', '198.51.100.7', 40001),
      'c',
      { transport: 'tls', address: '198.51.100.7', port: 5061, connectionId: 'c' },
    ],
    [
      'TCP with rport: falls back to the source port',
      via('TCP', '10.0.0.1', 5060, [['rport', null]]),
      source('tcp', '198.51.100.7', 40001),
      'c',
      { transport: 'tcp', address: '198.51.100.7', port: 40001, connectionId: 'c' },
    ],
    [
      'Via says TCP but the request came over TLS (a client behind stunnel): on the TLS connection',
      via('TCP', '10.0.0.1', 5060, [['rport', null]]),
      source('tls', '198.51.100.7', 40001),
      'c',
      { transport: 'tls', address: '198.51.100.7', port: 40001, connectionId: 'c' },
    ],
    [
      'IPv6 sent-by in brackets equal to the source: to the unbracketed address',
      via('UDP', '[2001:db8::1]', 5060),
      source('udp', '2001:db8::1', 5060),
      undefined,
      { transport: 'udp', address: '2001:db8::1', port: 5060 },
    ],
  ]
  for (const [name, v, s, conn, expected] of cases) {
    it(name, () => assert.deepEqual(responseDestination(v, s, conn), expected))
  }
})

describe('viaReceivedParams (RFC 3261 §18.2.1, RFC 3581 §4)', () => {
  it('adds nothing when sent-by is the source address and there is no rport', () => {
    assert.deepEqual(viaReceivedParams(via('UDP', '192.0.2.1', 5060), source('udp', '192.0.2.1', 5060)), {})
  })
  it('adds received when sent-by differs from the source address', () => {
    assert.deepEqual(viaReceivedParams(via('UDP', 'h.example', 5060), source('udp', '192.0.2.1', 5060)), {
      received: '192.0.2.1',
    })
  })
  it('adds received and rport for an empty rport, even when sent-by equals the source', () => {
    assert.deepEqual(
      viaReceivedParams(via('UDP', '192.0.2.1', 5060, [['rport', null]]), source('udp', '192.0.2.1', 4000)),
      { received: '192.0.2.1', rport: 4000 },
    )
  })
})
