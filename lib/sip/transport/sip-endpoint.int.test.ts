import assert from 'node:assert/strict'
import { createSocket, type Socket } from 'node:dgram'
import { once } from 'node:events'
import { connect } from 'node:net'
import type { SipRequest, SipResponse } from '../message/message.ts'
import { type InboundContext, SipEndpoint } from './sip-endpoint.ts'

const options = (port: number, via = `SIP/2.0/UDP 10.9.9.9:${port};branch=z9hG4bKe1;rport`) =>
  [
    'OPTIONS sip:sbc@127.0.0.1 SIP/2.0',
    `Via: ${via}`,
    'Max-Forwards: 70',
    'From: <sip:peer@example.com>;tag=a',
    'To: <sip:sbc@example.com>',
    'Call-ID: endpoint-test',
    'CSeq: 1 OPTIONS',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n')

describe('SipEndpoint', () => {
  let endpoint: SipEndpoint
  let peer: Socket
  const requests: [SipRequest, InboundContext][] = []
  const responses: SipResponse[] = []

  beforeEach(async () => {
    requests.length = 0
    responses.length = 0
    endpoint = await SipEndpoint.start({
      listen: [
        { protocol: 'udp', address: '127.0.0.1', port: 0 },
        { protocol: 'tcp', address: '127.0.0.1', port: 0 },
      ],
      delegate: { onRequest: (r, c) => requests.push([r, c]), onResponse: (r) => responses.push(r) },
    })
    peer = createSocket('udp4')
    await new Promise<void>((resolve) => peer.bind(0, '127.0.0.1', resolve))
  })
  afterEach(async () => {
    peer.close()
    await endpoint.close()
  })

  const udpPort = () => endpoint.transports[0]!.local.port
  const nextDatagram = async () => ((await once(peer, 'message')) as [Buffer])[0].toString('latin1')
  const until = async (check: () => boolean) => {
    while (!check()) await new Promise((r) => setImmediate(r))
  }

  it('delivers a parsed request with received and rport added to the top Via (RFC 3261 §18.2.1, RFC 3581)', async () => {
    const peerPort = peer.address().port
    peer.send(options(5060), udpPort(), '127.0.0.1')
    await until(() => requests.length === 1)
    const [req, ctx] = requests[0]!
    assert.equal(req.method, 'OPTIONS')
    assert.match(
      req.headerValues('via')[0]!,
      new RegExp(`received=127\\.0\\.0\\.1;rport=${peerPort}|rport=${peerPort};received=127\\.0\\.0\\.1`),
    )
    assert.deepEqual(ctx.responseDestination, {
      transport: 'udp',
      address: '127.0.0.1',
      port: peerPort,
      local: { address: '127.0.0.1', port: udpPort() },
    })
  })

  it('answers a malformed but answerable request with 400 and a reason phrase naming the problem', async () => {
    const bad = options(5060).replace('CSeq: 1 OPTIONS', 'CSeq: one OPTIONS')
    peer.send(bad, udpPort(), '127.0.0.1')
    const reply = await nextDatagram()
    assert.match(reply, /^SIP\/2\.0 400 .*CSeq/i)
    assert.match(reply, /Call-ID: endpoint-test/)
    assert.equal(endpoint.counters.malformedRequestsAnswered, 1)
    assert.equal(requests.length, 0)
  })

  it('drops and counts garbage that is not SIP at all', async () => {
    peer.send('\x16\x03\x01 not sip at all', udpPort(), '127.0.0.1')
    peer.send(options(5060), udpPort(), '127.0.0.1')
    await until(() => requests.length === 1)
    assert.equal(endpoint.counters.garbageDropped, 1)
  })

  it('sends on the transport that matches the destination and rejects one it does not have', async () => {
    const [, ctx] = await (async () => {
      peer.send(options(5060), udpPort(), '127.0.0.1')
      await until(() => requests.length === 1)
      return requests[0]!
    })()
    const [req] = requests[0]!
    const { createResponse } = await import('../message/create-response.ts')
    await endpoint.send(createResponse(req, 200), ctx.responseDestination)
    assert.match(await nextDatagram(), /^SIP\/2\.0 200 OK/)
    await assert.rejects(
      endpoint.send(createResponse(req, 200), { transport: 'tls', address: '127.0.0.1', port: 1 }),
      {
        code: 'SBC_ERR_SIP_TRANSPORT_SEND_FAILED',
      },
    )
  })

  it('transmit: sends like send, and reports a missing transport on a later tick, counted', async () => {
    peer.send(options(5060), udpPort(), '127.0.0.1')
    await until(() => requests.length === 1)
    const [req, ctx] = requests[0]!
    const { createResponse } = await import('../message/create-response.ts')
    const outcome: Array<Error | undefined> = []
    endpoint.transmit(createResponse(req, 200), ctx.responseDestination, (e) => outcome.push(e))
    assert.match(await nextDatagram(), /^SIP\/2\.0 200 OK/)
    await until(() => outcome.length === 1)
    assert.equal(outcome[0], undefined)
    endpoint.transmit(createResponse(req, 200), { transport: 'tls', address: '127.0.0.1', port: 1 }, (e) =>
      outcome.push(e),
    )
    assert.equal(outcome.length, 1, 'never synchronously')
    await until(() => outcome.length === 2)
    assert.equal((outcome[1] as { code?: string }).code, 'SBC_ERR_SIP_TRANSPORT_SEND_FAILED')
    assert.equal(endpoint.counters.sendErrors, 1)
  })

  it('parses responses arriving on a TCP connection and hands them upward', async () => {
    const tcpPort = endpoint.transports[1]!.local.port
    const socket = connect({ host: '127.0.0.1', port: tcpPort })
    await once(socket, 'connect')
    socket.write(
      'SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP 127.0.0.1;branch=z9hG4bKx\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: r\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n',
    )
    await until(() => responses.length === 1)
    assert.equal(responses[0]?.status, 200)
    socket.destroy()
  })
})

describe('SipEndpoint with several listeners of one protocol', () => {
  it('sends a response from the listener its request came in on', async () => {
    const { createResponse } = await import('../message/create-response.ts')
    const got: [SipRequest, InboundContext][] = []
    const endpoint = await SipEndpoint.start({
      listen: [
        { protocol: 'udp', address: '127.0.0.1', port: 0 },
        { protocol: 'udp', address: '127.0.0.2', port: 0 },
      ],
      delegate: { onRequest: (r, c) => got.push([r, c]), onResponse() {} },
    })
    const peer = createSocket('udp4')
    try {
      await new Promise<void>((resolve) => peer.bind(0, '127.0.0.1', resolve))
      const second = endpoint.transports[1]!.local
      peer.send(options(5060), second.port, second.address)
      const [, rinfo] = await (async () => {
        while (got.length === 0) await new Promise((r) => setImmediate(r))
        const [req, ctx] = got[0]!
        const reply = once(peer, 'message') as Promise<[Buffer, { address: string; port: number }]>
        await endpoint.send(createResponse(req, 200), ctx.responseDestination)
        return reply
      })()
      assert.deepEqual(
        { address: rinfo.address, port: rinfo.port },
        { address: second.address, port: second.port },
      )
    } finally {
      peer.close()
      await endpoint.close()
    }
  })
})
