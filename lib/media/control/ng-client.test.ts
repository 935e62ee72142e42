import assert from 'node:assert/strict'
import DgramAsPromised from 'dgram-as-promised'
import { NgError, NgErrorCode } from './errors.ts'
import { NgClient } from './ng-client.ts'
import { decodeNgDatagram, encodeNgDatagram } from './ng-message.ts'

/** An NG client toward a bare UDP socket on loopback that answers only what `fn` answers; both closed after. */
async function withServer(
  retransmit: { retransmitMs: number; retransmissions?: number },
  fn: (server: ReturnType<typeof DgramAsPromised.createSocket>, client: NgClient) => Promise<void>,
): Promise<void> {
  const server = DgramAsPromised.createSocket('udp4')
  await server.bind(0, '127.0.0.1')
  const client = await NgClient.connect({ host: '127.0.0.1', port: server.address().port, ...retransmit })
  try {
    await fn(server, client)
  } finally {
    await client.close()
    await server.close()
  }
}

/**
 * `onRetransmit` (NgRequestOptions): how a caller learns that a request went unanswered once while
 * it goes on (the B2BUA relays a refusal then instead of waiting out a dead media pod). Against bare
 * UDP sockets on loopback: one that never answers, one that answers.
 */
describe('NgClient: onRetransmit', () => {
  it('is called once per retransmission; the request still runs its whole budget', async () => {
    await withServer({ retransmitMs: 20, retransmissions: 2 }, async (server, client) => {
      const cookies: string[] = []
      const events: string[] = []
      const received = (async () => {
        for (let i = 0; i < 3; i++) {
          const p = await server.recv()
          if (!p) return
          cookies.push(decodeNgDatagram(p.msg).cookie)
        }
      })()
      await assert.rejects(
        client.request(
          { command: 'withdraw offer', 'call-id': 'c', 'from-tag': 'a' },
          { onRetransmit: (n) => events.push(`retransmit ${n}`) },
        ),
        (e: unknown) => e instanceof NgError && e.code === NgErrorCode.ngTimeout,
      )
      await received
      assert.deepEqual(events, ['retransmit 1', 'retransmit 2'])
      assert.equal(cookies.length, 3, 'the first send and two retransmissions')
      assert.equal(new Set(cookies).size, 1, 'the same request each time')
    })
  })

  it('a hook that throws is logged; the request goes on and ends as it would', async () => {
    await withServer({ retransmitMs: 20, retransmissions: 2 }, async (_server, client) => {
      let calls = 0
      await assert.rejects(
        client.request(
          { command: 'withdraw offer', 'call-id': 'c', 'from-tag': 'a' },
          {
            onRetransmit: () => {
              calls++
              throw new Error('hook failed')
            },
          },
        ),
        (e: unknown) => e instanceof NgError && e.code === NgErrorCode.ngTimeout,
      )
      assert.equal(calls, 2, 'each retransmission still went out and called the hook')
    })
  })

  it('is not called when the first send is answered', async () => {
    await withServer({ retransmitMs: 1000 }, async (server, client) => {
      const answered = (async () => {
        const p = await server.recv()
        if (!p) return
        const { cookie } = decodeNgDatagram(p.msg)
        await server.send(encodeNgDatagram(cookie, { result: 'ok' }), p.rinfo.port, '127.0.0.1')
      })()
      let retransmits = 0
      const r = await client.request(
        { command: 'withdraw offer', 'call-id': 'c', 'from-tag': 'a' },
        { onRetransmit: () => retransmits++ },
      )
      await answered
      assert.equal(r.result, 'ok')
      assert.equal(retransmits, 0)
    })
  })
})
