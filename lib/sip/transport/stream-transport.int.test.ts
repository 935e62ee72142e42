import assert from 'node:assert/strict'
import { X509Certificate } from 'node:crypto'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { connect as netConnect, type Socket } from 'node:net'
import { type TLSSocket, connect as tlsConnect } from 'node:tls'
import { createTestCa, type TestCa } from '../../../test/harness/test-ca.ts'
import { SipTransportError } from './errors.ts'
import { StreamTransport, type StreamTransportOptions } from './stream-transport.ts'
import type { InboundMessage } from './transport.ts'
import { UdpTransport } from './udp-transport.ts'

const msg = (n: number) => `OPTIONS sip:x SIP/2.0\r\nCSeq: ${n} OPTIONS\r\nContent-Length: 0\r\n\r\n`

/** A delegate that queues what arrives and lets a test await the next one. */
function inbox() {
  const items: InboundMessage[] = []
  const waiters: ((m: InboundMessage) => void)[] = []
  return {
    delegate: {
      onMessage(m: InboundMessage) {
        const w = waiters.shift()
        if (w) w(m)
        else items.push(m)
      },
    },
    next(): Promise<InboundMessage> {
      const m = items.shift()
      return m ? Promise.resolve(m) : new Promise((resolve) => waiters.push(resolve))
    },
    get queued() {
      return items.length
    },
  }
}

/** Reads from a socket until `n` bytes arrived. */
async function readBytes(socket: Socket, n: number): Promise<string> {
  let got = Buffer.alloc(0)
  while (got.length < n) {
    const [chunk] = (await once(socket, 'data')) as [Buffer]
    got = Buffer.concat([got, chunk])
  }
  return got.toString('latin1')
}

/**
 * Waits until `check()` holds. Used where two sides of one connection observe an event in an order
 * the OS does not fix (the client sees the close before the server reports the failed handshake).
 * Bounded by the mocha timeout; no fixed delay.
 */
async function eventually(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((resolve) => setTimeout(resolve, 5))
}

const open: { close(): Promise<void> }[] = []
async function listen(options: Omit<StreamTransportOptions, 'port'> & { port?: number }) {
  const t = await StreamTransport.listen({ port: 0, ...options })
  open.push(t)
  return t
}

describe('StreamTransport over TCP', () => {
  afterEach(async () => {
    await Promise.all(open.splice(0).map((t) => t.close()))
  })

  for (const address of ['127.0.0.1', '::1']) {
    it(`frames split messages and answers on the connection the peer opened (${address})`, async () => {
      const box = inbox()
      const t = await listen({ protocol: 'tcp', address, delegate: box.delegate })
      const client = netConnect({ host: address, port: t.local.port })
      await once(client, 'connect')
      const two = msg(1) + msg(2)
      client.write(two.slice(0, 30))
      client.write(two.slice(30))
      const first = await box.next()
      const second = await box.next()
      assert.equal(first.bytes.toString(), msg(1))
      assert.equal(second.bytes.toString(), msg(2))
      assert.equal(first.source.port, client.localPort)
      assert.equal(first.source.family, address === '::1' ? 'IPv6' : 'IPv4')
      assert.equal(first.connectionId, second.connectionId)
      // A request to the peer's source address:port reuses its connection (no new connect).
      await t.send(Buffer.from(msg(3)), {
        transport: 'tcp',
        address: first.source.address,
        port: first.source.port,
      })
      assert.equal(await readBytes(client, msg(3).length), msg(3))
      assert.equal(t.counters.connectionsOpened, 1)
      client.destroy()
    })
  }

  it('answers a CRLFCRLF ping with a CRLF pong (RFC 5626 §4.4.1)', async () => {
    const t = await listen({ protocol: 'tcp', address: '127.0.0.1', delegate: inbox().delegate })
    const client = netConnect({ host: '127.0.0.1', port: t.local.port })
    await once(client, 'connect')
    client.write('\r\n\r\n')
    assert.equal(await readBytes(client, 2), '\r\n')
    assert.equal(t.counters.keepAlivePings, 1)
    client.destroy()
  })

  it('closes a connection that sends a message without Content-Length and counts a framing error', async () => {
    const box = inbox()
    const t = await listen({ protocol: 'tcp', address: '127.0.0.1', delegate: box.delegate })
    const client = netConnect({ host: '127.0.0.1', port: t.local.port })
    await once(client, 'connect')
    client.write('OPTIONS sip:x SIP/2.0\r\nVia: x\r\n\r\n')
    await once(client, 'close')
    assert.equal(t.counters.framingErrors, 1)
    assert.equal(box.queued, 0)
  })

  it('refuses connections beyond the per-source limit', async () => {
    const t = await listen({
      protocol: 'tcp',
      address: '127.0.0.1',
      delegate: inbox().delegate,
      maxConnectionsPerSource: 2,
    })
    const clients = [0, 1, 2].map(() => netConnect({ host: '127.0.0.1', port: t.local.port }))
    // Not events.once: it rejects on the ECONNRESET a refused client may see.
    for (const c of clients) c.on('error', () => {})
    const closed = clients.map((c) => new Promise((resolve) => c.once('close', resolve)))
    // The server refuses whichever connection it accepts third; the accept order is the kernel's.
    await Promise.race(closed)
    assert.equal(t.counters.connectionsRejected, 1)
    assert.equal(clients.filter((c) => c.destroyed).length, 1)
    for (const c of clients) c.destroy()
  })

  it('closes an idle connection', async () => {
    const t = await listen({
      protocol: 'tcp',
      address: '127.0.0.1',
      delegate: inbox().delegate,
      idleTimeoutMs: 50,
    })
    const client = netConnect({ host: '127.0.0.1', port: t.local.port })
    await once(client, 'close')
    assert.equal(t.counters.idleTimeouts, 1)
  })

  it('opens an outbound connection and the peer answers on it', async () => {
    const a = inbox()
    const b = inbox()
    const ta = await listen({ protocol: 'tcp', address: '127.0.0.1', delegate: a.delegate })
    const tb = await listen({ protocol: 'tcp', address: '127.0.0.1', delegate: b.delegate })
    await ta.send(Buffer.from(msg(1)), { transport: 'tcp', address: '127.0.0.1', port: tb.local.port })
    const req = await b.next()
    await tb.send(Buffer.from(msg(2)), {
      transport: 'tcp',
      address: req.source.address,
      port: req.source.port,
      connectionId: req.connectionId!,
    })
    const res = await a.next()
    assert.equal(res.bytes.toString(), msg(2))
    assert.equal(ta.counters.connectionsOpened, 1)
    assert.equal(tb.counters.connectionsOpened, 1)
  })

  it('fails to listen on a port that is taken with a typed error', async () => {
    const t = await listen({ protocol: 'tcp', address: '127.0.0.1', delegate: inbox().delegate })
    await assert.rejects(
      StreamTransport.listen({
        protocol: 'tcp',
        address: '127.0.0.1',
        port: t.local.port,
        delegate: inbox().delegate,
      }),
      { code: 'SBC_ERR_SIP_TRANSPORT_LISTEN_FAILED' },
    )
  })

  it('rejects a send to a closed port with a typed error', async () => {
    const t = await listen({ protocol: 'tcp', address: '127.0.0.1', delegate: inbox().delegate })
    const probe = await listen({ protocol: 'tcp', address: '127.0.0.1', delegate: inbox().delegate })
    const port = probe.local.port
    await probe.close()
    await assert.rejects(t.send(Buffer.from(msg(1)), { transport: 'tcp', address: '127.0.0.1', port }), {
      code: 'SBC_ERR_SIP_TRANSPORT_CONNECT_FAILED',
    })
    assert.equal(t.counters.connectFailures, 1)
  })
})

describe('StreamTransport over TLS', () => {
  let ca: TestCa
  before(async () => {
    ca = await createTestCa()
  })
  after(async () => {
    await ca.cleanup()
  })
  afterEach(async () => {
    await Promise.all(open.splice(0).map((t) => t.close()))
  })

  const serverTls = () => ({
    certificate: { file: ca.server.cert },
    privateKey: { file: ca.server.key },
    ca: { file: ca.caCert },
    clientAuth: 'require' as const,
  })

  /** Connects as a TLS client with an optional certificate; resolves with what the client saw. */
  async function tryClient(port: number, cert?: { cert: string; key: string }) {
    const socket = tlsConnect({
      host: '127.0.0.1',
      port,
      ca: readFileSync(ca.caCert),
      servername: 'sbc.test',
      ...(cert ? { cert: readFileSync(cert.cert), key: readFileSync(cert.key) } : {}),
    })
    socket.on('error', () => {})
    socket.on('secureConnect', () => socket.write(msg(1)))
    // Not events.once: it rejects on the 'error' the refused handshake raises.
    await new Promise((resolve) => socket.once('close', resolve))
  }

  it('accepts mutual TLS with a good client certificate and exposes its names', async () => {
    const box = inbox()
    const t = await listen({
      protocol: 'tls',
      address: '127.0.0.1',
      delegate: box.delegate,
      tls: serverTls(),
    })
    const socket = tlsConnect({
      host: '127.0.0.1',
      port: t.local.port,
      ca: readFileSync(ca.caCert),
      servername: 'sbc.test',
      cert: readFileSync(ca.client.cert),
      key: readFileSync(ca.client.key),
    })
    await once(socket, 'secureConnect')
    socket.write(msg(1))
    const m = await box.next()
    assert.equal(m.bytes.toString(), msg(1))
    assert.deepEqual(m.tls, {
      peerCertificateNames: ['client.test', 'trunk.client.test'],
      authorized: true,
      serverName: 'sbc.test',
    })
    assert.equal(m.source.transport, 'tls')
    socket.destroy()
  })

  const refused: [string, (c: TestCa) => { cert: string; key: string } | undefined][] = [
    ['no client certificate', () => undefined],
    ['a certificate from an unknown CA', (c) => c.unknownCaClient],
    ['an expired certificate', (c) => c.expiredClient],
  ]
  for (const [what, pick] of refused) {
    it(`refuses mutual TLS with ${what} and counts a handshake failure`, async () => {
      const box = inbox()
      const t = await listen({
        protocol: 'tls',
        address: '127.0.0.1',
        delegate: box.delegate,
        tls: serverTls(),
      })
      await tryClient(t.local.port, pick(ca))
      await eventually(() => t.counters.handshakeFailures === 1)
      assert.equal(t.counters.connectionsOpened, 0)
      assert.equal(box.queued, 0)
    })
  }

  it('presents the client certificate on an outbound connection (the server sees its names)', async () => {
    const server = inbox()
    const client = inbox()
    const ts = await listen({
      protocol: 'tls',
      address: '127.0.0.1',
      delegate: server.delegate,
      tls: serverTls(),
    })
    const tc = await listen({
      protocol: 'tls',
      address: '127.0.0.1',
      delegate: client.delegate,
      tls: {
        certificate: { file: ca.server.cert },
        privateKey: { file: ca.server.key },
        clientCertificate: { file: ca.client.cert },
        clientPrivateKey: { file: ca.client.key },
        ca: { file: ca.caCert },
        minVersion: 'TLSv1.3',
      },
    })
    await tc.send(Buffer.from(msg(1)), {
      transport: 'tls',
      address: '127.0.0.1',
      port: ts.local.port,
      serverName: 'sbc.test',
    })
    const m = await server.next()
    assert.deepEqual(m.tls?.peerCertificateNames, ['client.test', 'trunk.client.test'])
    assert.equal(m.tls?.serverName, 'sbc.test', 'the server sees the SNI the client presented')
    // The server answers on the same connection; the client sees the server's names.
    await ts.send(Buffer.from(msg(2)), { transport: 'tls', address: m.source.address, port: m.source.port })
    const r = await client.next()
    assert.deepEqual(r.tls?.peerCertificateNames, ['sbc.test'])
    assert.equal(tc.counters.connectionsOpened, 1)
  })

  /** Opens a TLS client connection and resolves with it and the serial of the server's certificate. */
  async function serverSerial(port: number): Promise<{ socket: TLSSocket; serial: string }> {
    const socket = tlsConnect({
      host: '127.0.0.1',
      port,
      ca: readFileSync(ca.caCert),
      servername: 'sbc.test',
      cert: readFileSync(ca.client.cert),
      key: readFileSync(ca.client.key),
    })
    await once(socket, 'secureConnect')
    return { socket, serial: socket.getPeerCertificate().serialNumber }
  }
  const serialOf = (file: string) => new X509Certificate(readFileSync(file)).serialNumber

  it('serves a new certificate to new connections after setTls; established ones keep working', async () => {
    const box = inbox()
    const t = await listen({
      protocol: 'tls',
      address: '127.0.0.1',
      delegate: box.delegate,
      tls: serverTls(),
    })
    const before = await serverSerial(t.local.port)
    assert.equal(before.serial, serialOf(ca.server.cert))
    assert.notEqual(serialOf(ca.renewedServer.cert), before.serial)
    t.setTls({
      ...serverTls(),
      certificate: { file: ca.renewedServer.cert },
      privateKey: { file: ca.renewedServer.key },
    })
    const after = await serverSerial(t.local.port)
    assert.equal(
      after.serial,
      serialOf(ca.renewedServer.cert),
      'a new connection sees the renewed certificate',
    )
    // The connection made before the change still carries SIP both ways.
    before.socket.write(msg(1))
    const m = await box.next()
    assert.equal(m.bytes.toString(), msg(1))
    await t.send(Buffer.from(msg(2)), {
      transport: 'tls',
      address: m.source.address,
      port: m.source.port,
      connectionId: m.connectionId,
    })
    assert.equal(await readBytes(before.socket, msg(2).length), msg(2))
    before.socket.destroy()
    after.socket.destroy()
  })

  it('keeps its certificate when setTls gets a key that does not match, or no PEM at all', async () => {
    const t = await listen({
      protocol: 'tls',
      address: '127.0.0.1',
      delegate: inbox().delegate,
      tls: serverTls(),
    })
    const code = (e: unknown) =>
      e instanceof SipTransportError && e.code === 'SBC_ERR_SIP_TRANSPORT_TLS_CONFIG'
    assert.throws(
      () =>
        t.setTls({
          ...serverTls(),
          certificate: { file: ca.renewedServer.cert },
          privateKey: { file: ca.server.key },
        }),
      code,
    )
    assert.throws(() => t.setTls({ ...serverTls(), certificate: { pem: 'not a certificate' } }), code)
    const c = await serverSerial(t.local.port)
    assert.equal(c.serial, serialOf(ca.server.cert))
    c.socket.destroy()
  })

  it('presents the new client certificate on outbound connections opened after setTls', async () => {
    const server = inbox()
    // `request`: the server takes any client certificate and shows its names.
    const ts = await listen({
      protocol: 'tls',
      address: '127.0.0.1',
      delegate: server.delegate,
      tls: { ...serverTls(), clientAuth: 'request' },
    })
    const tc = await listen({
      protocol: 'tls',
      address: '127.0.0.1',
      delegate: inbox().delegate,
      tls: {
        certificate: { file: ca.unknownCaClient.cert },
        privateKey: { file: ca.unknownCaClient.key },
        ca: { file: ca.caCert },
      },
    })
    const to = {
      transport: 'tls' as const,
      address: '127.0.0.1',
      port: ts.local.port,
      serverName: 'sbc.test',
    }
    await tc.send(Buffer.from(msg(1)), to)
    const first = await server.next()
    assert.deepEqual(first.tls?.peerCertificateNames, ['rogue.test'])
    tc.setTls({
      certificate: { file: ca.client.cert },
      privateKey: { file: ca.client.key },
      ca: { file: ca.caCert },
    })
    // The open connection is reused and keeps its handshake.
    await tc.send(Buffer.from(msg(2)), to)
    assert.equal((await server.next()).connectionId, first.connectionId)
    for (const socket of tc.connections.all()) socket.socket.destroy()
    await eventually(() => tc.connections.size === 0)
    await tc.send(Buffer.from(msg(3)), to)
    const third = await server.next()
    assert.notEqual(third.connectionId, first.connectionId)
    assert.deepEqual(third.tls?.peerCertificateNames, ['client.test', 'trunk.client.test'])
  })

  it('refuses a client below the minimum TLS version', async () => {
    const t = await listen({
      protocol: 'tls',
      address: '127.0.0.1',
      delegate: inbox().delegate,
      tls: { ...serverTls(), clientAuth: 'off', minVersion: 'TLSv1.3' },
    })
    const socket = tlsConnect({
      host: '127.0.0.1',
      port: t.local.port,
      ca: readFileSync(ca.caCert),
      maxVersion: 'TLSv1.2',
    })
    let secured = false
    socket.on('secureConnect', () => {
      secured = true
    })
    socket.on('error', () => {})
    await new Promise((resolve) => socket.once('close', resolve))
    assert.equal(secured, false)
    await eventually(() => t.counters.handshakeFailures === 1)
  })

  // OpenSSL reports the NIST curves by their SEC/X9.62 names.
  for (const [group, reported] of [
    ['X25519', 'X25519'],
    ['P-256', 'prime256v1'],
    ['P-384', 'secp384r1'],
    ['X448', 'X448'],
  ] as const) {
    it(`negotiates the ${group} key-exchange group from the default list`, async () => {
      const t = await listen({
        protocol: 'tls',
        address: '127.0.0.1',
        delegate: inbox().delegate,
        tls: { ...serverTls(), clientAuth: 'off' },
      })
      const socket = tlsConnect({
        host: '127.0.0.1',
        port: t.local.port,
        ca: readFileSync(ca.caCert),
        servername: 'sbc.test',
        ecdhCurve: group,
      })
      socket.on('error', () => {})
      try {
        await once(socket, 'secureConnect')
        const info = socket.getEphemeralKeyInfo() as { name?: string } | null
        assert.equal(info?.name, reported)
      } finally {
        socket.destroy()
      }
    })
  }

  it('refuses an outbound connection to a server its CA does not vouch for', async () => {
    const ts = await listen({
      protocol: 'tls',
      address: '127.0.0.1',
      delegate: inbox().delegate,
      tls: { certificate: { file: ca.unknownCaClient.cert }, privateKey: { file: ca.unknownCaClient.key } },
    })
    const tc = await listen({
      protocol: 'tls',
      address: '127.0.0.1',
      delegate: inbox().delegate,
      tls: serverTls(),
    })
    await assert.rejects(
      tc.send(Buffer.from(msg(1)), { transport: 'tls', address: '127.0.0.1', port: ts.local.port }),
      {
        code: 'SBC_ERR_SIP_TRANSPORT_CONNECT_FAILED',
      },
    )
    assert.equal(tc.counters.handshakeFailures, 1)
  })

  it('fails to start with a typed error when a certificate file is missing', async () => {
    await assert.rejects(
      StreamTransport.listen({
        protocol: 'tls',
        address: '127.0.0.1',
        port: 0,
        delegate: inbox().delegate,
        tls: { certificate: { file: '/nonexistent.crt' }, privateKey: { file: '/nonexistent.key' } },
      }),
      { code: 'SBC_ERR_SIP_TRANSPORT_TLS_CONFIG' },
    )
  })
})

describe('UdpTransport', () => {
  for (const address of ['127.0.0.1', '::1']) {
    it(`exchanges datagrams and reports the source (${address})`, async () => {
      const a = inbox()
      const b = inbox()
      const ta = await UdpTransport.listen({ address, port: 0, delegate: a.delegate })
      const tb = await UdpTransport.listen({ address, port: 0, delegate: b.delegate })
      try {
        await ta.send(Buffer.from(msg(1)), { transport: 'udp', address, port: tb.local.port })
        const m = await b.next()
        assert.equal(m.bytes.toString(), msg(1))
        assert.deepEqual(m.source, {
          transport: 'udp',
          address,
          port: ta.local.port,
          family: ta.local.family,
        })
        assert.equal(tb.counters.messagesIn, 1)
        assert.equal(ta.counters.bytesOut, msg(1).length)
      } finally {
        await ta.close()
        await tb.close()
      }
    })
  }

  it('fails to bind a port that is taken with a typed error', async () => {
    const t = await UdpTransport.listen({ address: '127.0.0.1', port: 0, delegate: inbox().delegate })
    try {
      await assert.rejects(
        UdpTransport.listen({ address: '127.0.0.1', port: t.local.port, delegate: inbox().delegate }),
        {
          code: 'SBC_ERR_SIP_TRANSPORT_LISTEN_FAILED',
        },
      )
    } finally {
      await t.close()
    }
  })

  it('rejects a send after close with a typed error', async () => {
    const t = await UdpTransport.listen({ address: '127.0.0.1', port: 0, delegate: inbox().delegate })
    await t.close()
    await assert.rejects(t.send(Buffer.from('x'), { transport: 'udp', address: '127.0.0.1', port: 9 }), {
      code: 'SBC_ERR_SIP_TRANSPORT_SEND_FAILED',
    })
  })
})
