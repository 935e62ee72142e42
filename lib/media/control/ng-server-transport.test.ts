import assert from 'node:assert/strict'
import DgramAsPromised from 'dgram-as-promised'
import { NgError, NgErrorCode, NgRemoteError } from './errors.ts'
import { NgClient } from './ng-client.ts'
import { decodeNgDatagram, encodeNgDatagram, type NgRequest, type NgResponse } from './ng-message.ts'
import { type NgRequestContext, type NgRequestHandler, NgServerTransport } from './ng-server-transport.ts'

/** A handler that records what it executed, so tests can prove idempotence. */
class RecordingHandler implements NgRequestHandler {
  readonly seen: { request: NgRequest; context: NgRequestContext }[] = []
  handle(request: NgRequest, context: NgRequestContext): NgResponse {
    this.seen.push({ request, context })
    if (request.command === 'ping') return { result: 'pong' }
    if (request.command === 'offer') {
      if (request['call-id'] === 'boom') throw new Error('secret internals')
      return { result: 'ok', sdp: `${request.sdp}a=executed:${this.seen.length}\r\n` }
    }
    if (request.command === 'list')
      return { result: 'ok', calls: request.limit === 999 ? ['x'.repeat(70_000)] : ['c1'] }
    throw new NgError(NgErrorCode.ngInvalid, `Unsupported ${request.command}`)
  }
}

const SDP = 'v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\nm=audio 1 RTP/AVP 0\r\n'

describe('NgServerTransport with NgClient', () => {
  let handler: RecordingHandler
  let server: NgServerTransport
  let client: NgClient

  beforeEach(async () => {
    handler = new RecordingHandler()
    server = await NgServerTransport.listen({ host: '127.0.0.1', port: 0, handler, secret: 's3cret' })
    client = await NgClient.connect({ host: '127.0.0.1', port: server.address().port, retransmitMs: 50 })
  })
  afterEach(async () => {
    await client.close()
    await server.close()
  })

  /** Sends raw datagrams from a socket of our own and collects `count` replies. */
  async function raw(datagrams: Buffer[], count: number): Promise<Buffer[]> {
    const s = DgramAsPromised.createSocket('udp4')
    await s.bind(0, '127.0.0.1')
    try {
      for (const d of datagrams) await s.send(d, server.address().port, '127.0.0.1')
      const out: Buffer[] = []
      while (out.length < count) {
        const p = await s.recv()
        if (p) out.push(p.msg)
      }
      return out
    } finally {
      await s.close()
    }
  }

  it('serves ping, offer and list', async () => {
    await client.ping()
    const r = await client.offer({ 'call-id': 'c1', 'from-tag': 'f', sdp: SDP })
    assert.match(r.sdp, /a=executed:2/)
    assert.deepEqual((await client.list()).calls, ['c1'])
    assert.equal(handler.seen[1]?.context.remote.address, '127.0.0.1')
  })

  it('answers a reply too long for one datagram with an error reply, not with silence', async () => {
    await assert.rejects(client.list(999), (e: unknown) => {
      assert.ok(e instanceof NgRemoteError)
      assert.match(e.message, /the reply \(700\d\d octets\) does not fit in one datagram/)
      return true
    })
    assert.equal(server.counters.errors, 1)
    assert.deepEqual((await client.list()).calls, ['c1'], 'still serving')
  })

  it('answers a retransmission from the cache without executing again', async () => {
    const d = encodeNgDatagram('dup-1', { command: 'offer', 'call-id': 'c1', 'from-tag': 'f', sdp: SDP })
    const [first, second] = await raw([d, d], 2)
    assert.ok(first && second)
    assert.deepEqual(second, first)
    assert.equal(handler.seen.length, 1)
    assert.equal(server.counters.retransmissions, 1)
  })

  it('reports unknown flags as a warning in an ok reply', async () => {
    const r = await client.offer({ 'call-id': 'c1', 'from-tag': 'f', sdp: SDP, flags: ['frobnicate'] })
    assert.equal(r.warning, "Unknown flag 'frobnicate' ignored")
  })

  it('turns typed errors into error replies and hides untyped ones', async () => {
    await assert.rejects(
      client.query({ 'call-id': 'x' }),
      (e: unknown) => e instanceof NgRemoteError && e.reason === 'Unsupported query',
    )
    await assert.rejects(
      client.offer({ 'call-id': 'boom', 'from-tag': 'f', sdp: SDP }),
      (e: unknown) => e instanceof NgRemoteError && e.reason === 'Internal error',
    )
    await assert.rejects(
      client.request({ command: 'offer', 'call-id': 'x' }),
      (e: unknown) => e instanceof NgRemoteError && /Invalid 'offer' request/.test(e.reason),
    )
  })

  it('answers malformed bencode with an error and drops cookieless garbage, then keeps serving', async () => {
    const [reply] = await raw([Buffer.from('no-cookie-here'), Buffer.from('c9 d7:command')], 1)
    assert.ok(reply)
    const { cookie, dict } = decodeNgDatagram(reply)
    assert.equal(cookie, 'c9')
    assert.equal(dict.result, 'error')
    assert.equal(server.counters.malformed, 2)
    await client.ping()
  })

  it('checks the optional shared secret (kube-sbc extension)', async () => {
    const withSecret = await NgClient.connect({
      host: '127.0.0.1',
      port: server.address().port,
      secret: 's3cret',
    })
    const wrong = await NgClient.connect({ host: '127.0.0.1', port: server.address().port, secret: 'nope' })
    try {
      await withSecret.ping()
      await client.ping() // stock NG clients leave it off
      await assert.rejects(
        wrong.ping(),
        (e: unknown) => e instanceof NgRemoteError && /kube-sbc-secret/.test(e.reason),
      )
      assert.ok(handler.seen.every((s) => !('kube-sbc-secret' in s.request)))
    } finally {
      await withSecret.close()
      await wrong.close()
    }
  })

  it('bounds the cache by entries', async () => {
    const small = await NgServerTransport.listen({
      host: '127.0.0.1',
      port: 0,
      handler,
      cache: { maxEntries: 2 },
    })
    const c = await NgClient.connect({ host: '127.0.0.1', port: small.address().port })
    try {
      for (let i = 0; i < 5; i++) await c.ping()
      assert.equal(small.cacheSize, 2)
    } finally {
      await c.close()
      await small.close()
    }
  })

  it('expires cached replies after the TTL, so a reused cookie executes again', async () => {
    let clock = 0
    const s = await NgServerTransport.listen({
      host: '127.0.0.1',
      port: 0,
      handler,
      cache: { ttlMs: 100 },
      now: () => clock,
    })
    const port = s.address().port
    const sock = DgramAsPromised.createSocket('udp4')
    await sock.bind(0, '127.0.0.1')
    try {
      const d = encodeNgDatagram('ttl-1', { command: 'ping' })
      for (const t of [0, 50, 150]) {
        clock = t
        await sock.send(d, port, '127.0.0.1')
        const p = await sock.recv()
        assert.equal(p && decodeNgDatagram(p.msg).dict.result, 'pong')
      }
      assert.equal(handler.seen.length, 2, 'executed at t=0 and again at t=150')
    } finally {
      await sock.close()
      await s.close()
    }
  })
})

describe('NgClient retransmission', () => {
  it('retransmits with the same cookie until answered', async () => {
    const peer = DgramAsPromised.createSocket('udp4')
    const { port } = await peer.bind(0, '127.0.0.1')
    const client = await NgClient.connect({ host: '127.0.0.1', port, retransmitMs: 20, retransmissions: 5 })
    try {
      const pending = client.ping()
      const first = await peer.recv() // dropped on purpose
      const second = await peer.recv()
      assert.ok(first && second)
      assert.deepEqual(second.msg, first.msg)
      const { cookie } = decodeNgDatagram(second.msg)
      await peer.send(encodeNgDatagram(cookie, { result: 'pong' }), second.rinfo.port, '127.0.0.1')
      await pending
    } finally {
      await client.close()
      await peer.close()
    }
  })

  it('gives up with SBC_ERR_NG_TIMEOUT when nobody answers', async () => {
    const peer = DgramAsPromised.createSocket('udp4')
    const { port } = await peer.bind(0, '127.0.0.1')
    const client = await NgClient.connect({ host: '127.0.0.1', port, retransmitMs: 5, retransmissions: 2 })
    try {
      await assert.rejects(
        client.ping(),
        (e: unknown) => e instanceof NgError && e.code === NgErrorCode.ngTimeout,
      )
    } finally {
      await client.close()
      await peer.close()
    }
  })

  it('rejects pending requests on close', async () => {
    const peer = DgramAsPromised.createSocket('udp4')
    const { port } = await peer.bind(0, '127.0.0.1')
    const client = await NgClient.connect({ host: '127.0.0.1', port, retransmitMs: 1000 })
    const pending = client.ping()
    await peer.recv()
    await client.close()
    await assert.rejects(pending, (e: unknown) => e instanceof NgError && e.code === NgErrorCode.ngClosed)
    await peer.close()
  })
})
