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
})
