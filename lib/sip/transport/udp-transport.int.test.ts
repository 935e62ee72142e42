import assert from 'node:assert/strict'
import type { InboundMessage } from './transport.ts'
import { UdpTransport } from './udp-transport.ts'

/** Two UDP transports on loopback; `next()` resolves with the next datagram the receiver gets. */
async function pair() {
  const queue: InboundMessage[] = []
  const waiting: Array<(m: InboundMessage) => void> = []
  const rx = await UdpTransport.listen({
    address: '127.0.0.1',
    port: 0,
    delegate: {
      onMessage: (m) => {
        const w = waiting.shift()
        if (w) w(m)
        else queue.push(m)
      },
    },
  })
  const tx = await UdpTransport.listen({ address: '127.0.0.1', port: 0, delegate: { onMessage: () => {} } })
  const next = () =>
    new Promise<InboundMessage>((resolve) => {
      const m = queue.shift()
      if (m) resolve(m)
      else waiting.push(resolve)
    })
  return { rx, tx, next, close: () => Promise.all([rx.close(), tx.close()]) }
}

describe('UdpTransport destinations', () => {
  it('sends to an IP literal and to a host name (the lookup answers literals itself, names via dns.lookup)', async () => {
    const p = await pair()
    try {
      await p.tx.send(Buffer.from('OPTIONS literal'), {
        transport: 'udp',
        address: '127.0.0.1',
        port: p.rx.local.port,
      })
      const a = await p.next()
      assert.equal(a.bytes.toString(), 'OPTIONS literal')
      assert.equal(a.source.port, p.tx.local.port)
      await p.tx.send(Buffer.from('OPTIONS name'), {
        transport: 'udp',
        address: 'localhost',
        port: p.rx.local.port,
      })
      const b = await p.next()
      assert.equal(b.bytes.toString(), 'OPTIONS name')
      assert.equal(p.tx.counters.messagesOut, 2)
    } finally {
      await p.close()
    }
  })

  it('rejects a send to a name that does not resolve with a transport error', async () => {
    const p = await pair()
    try {
      await assert.rejects(
        p.tx.send(Buffer.from('x'), { transport: 'udp', address: 'no-such-host.invalid', port: 5060 }),
        (err: { code?: string }) => {
          assert.match(String(err.code), /^SBC_ERR_/)
          return true
        },
      )
    } finally {
      await p.close()
    }
  })

  it('transmit reports success on a later tick, never synchronously, and the datagram arrives', async () => {
    const p = await pair()
    try {
      const outcome: Array<Error | undefined> = []
      p.tx.transmit(
        Buffer.from('OPTIONS transmit'),
        { transport: 'udp', address: '127.0.0.1', port: p.rx.local.port },
        (e) => outcome.push(e),
      )
      assert.equal(outcome.length, 0, 'never synchronously')
      assert.equal((await p.next()).bytes.toString(), 'OPTIONS transmit')
      while (outcome.length === 0) await new Promise((r) => setImmediate(r))
      assert.equal(outcome[0], undefined)
      assert.equal(p.tx.counters.messagesOut, 1)
    } finally {
      await p.close()
    }
  })

  it('a port dgram refuses synchronously is a transport error on a later tick, from send and from transmit', async () => {
    const p = await pair()
    try {
      const bad = { transport: 'udp' as const, address: '127.0.0.1', port: 70_000 }
      await assert.rejects(p.tx.send(Buffer.from('x'), bad), { code: 'SBC_ERR_SIP_TRANSPORT_SEND_FAILED' })
      const outcome: Array<Error | undefined> = []
      p.tx.transmit(Buffer.from('x'), bad, (e) => outcome.push(e))
      assert.equal(outcome.length, 0, 'never synchronously')
      await Promise.resolve()
      assert.equal(outcome.length, 1)
      assert.equal((outcome[0] as { code?: string }).code, 'SBC_ERR_SIP_TRANSPORT_SEND_FAILED')
    } finally {
      await p.close()
    }
  })

  it('transmit on a closed transport reports the error on a later tick', async () => {
    const p = await pair()
    await p.close()
    const outcome: Array<Error | undefined> = []
    p.tx.transmit(Buffer.from('x'), { transport: 'udp', address: '127.0.0.1', port: p.rx.local.port }, (e) =>
      outcome.push(e),
    )
    assert.equal(outcome.length, 0, 'never synchronously')
    await Promise.resolve()
    assert.equal((outcome[0] as { code?: string } | undefined)?.code, 'SBC_ERR_SIP_TRANSPORT_SEND_FAILED')
  })
})
