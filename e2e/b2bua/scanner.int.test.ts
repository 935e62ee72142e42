import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { SipResponse } from '../../lib/sip/message/message.ts'
import { freePort } from '../../test/harness/free-port.ts'
import { monitorRedis, type RedisMonitor } from '../../test/harness/redis-monitor.ts'
import { type Sbc, sample, sbcPorts, scrape, startSbc } from './harness.ts'
import { startStore, type TestStore } from './two-processes.ts'
import { newBranch, response, sipRequest, UdpPeer } from './udp-peer.ts'

/**
 * Issue 4, Deliver 2: malicious User-Agent signatures are "dropped silently before any other work"
 * (docs/pipeline.md §1). A scanner sends what it likes — an INVITE with Max-Forwards 0, a BYE or
 * CANCEL naming no call — and each of these was answered (483, 481) after the process had looked
 * in Redis (a CANCEL even wrote a mark there), telling the scanner a SIP server is there. The scanner here is a bare UDP socket of the
 * test whose requests carry the harness's `friendly-scanner` signature; each is followed by the same
 * request without it, whose answer shows the SBC has handled what came before.
 */
describe('B2BUA: scanner requests of every shape dropped before any other work', function () {
  this.timeout(60_000)
  let store: TestStore
  let sbc: Sbc
  let peer: UdpPeer
  let monitor: RedisMonitor
  const commands: string[] = []
  let port: number

  before(async () => {
    store = await startStore()
    port = await freePort()
    peer = await UdpPeer.open(port)
    sbc = await startSbc(await sbcPorts(), port, await freePort(), { redis: store.redis.url })
    monitor = await monitorRedis(store.redis.url, (args) => commands.push(args.join(' ')))
  })
  after(async () => {
    monitor?.close()
    await sbc?.close()
    peer?.close()
    await store?.close()
  })

  const scannerUa = (text: string) =>
    text.replace('Max-Forwards: 70', 'Max-Forwards: 70\r\nUser-Agent: friendly-scanner')

  const cases: { name: string; method: string; to: (ruri: string) => string; mf?: string; answer: number }[] =
    [
      { name: 'an INVITE with Max-Forwards 0', method: 'INVITE', to: (r) => `<${r}>`, mf: '0', answer: 483 },
      { name: 'a BYE naming no call', method: 'BYE', to: (r) => `<${r}>;tag=nocall`, answer: 481 },
      // With a shared store an unknown INVITE may be another process's not stored yet: a CANCEL mark
      // is written to Redis and the CANCEL answered 200 (docs/b2bua.md, "Multi-process").
      { name: 'a CANCEL naming no INVITE', method: 'CANCEL', to: (r) => `<${r}>`, answer: 200 },
    ]
  for (const c of cases) {
    it(`${c.name}: no answer and no Redis command (the same request without the signature gets ${c.answer})`, async () => {
      const ruri = `sip:100@127.0.0.1:${sbc.ports.pbx}`
      const send = async (callId: string, scanner: boolean) => {
        let text = sipRequest({
          method: c.method,
          ruri,
          port,
          branch: newBranch(),
          fromTag: randomBytes(4).toString('hex'),
          to: c.to(ruri),
          callId,
          cseq: 1,
        })
        if (scanner) text = scannerUa(text)
        if (c.mf) text = text.replace('Max-Forwards: 70', `Max-Forwards: ${c.mf}`)
        await peer.send(text, sbc.ports.pbx)
      }
      const blocked = async () =>
        sample(
          await scrape(sbc.ports.http),
          'sbc_scanners_blocked_total{signature="friendly-scanner",action="drop"}',
        )
      const before = await blocked()
      const scanned = `${randomBytes(6).toString('hex')}@scanner.test`
      const marker = `${randomBytes(6).toString('hex')}@marker.test`
      await send(scanned, true)
      await send(marker, false)
      await peer.waitFor(
        response(c.answer, marker, c.method),
        `${c.answer} to the request without the signature`,
      )
      const answered = peer.all((m) => m instanceof SipResponse && m.callId === scanned)
      assert.deepEqual(
        answered.map((r) => (r.msg as SipResponse).status),
        [],
        'the scanner got an answer',
      )
      assert.deepEqual(
        commands.filter((x) => x.includes(scanned)),
        [],
        'Redis commands for the scanner request',
      )
      assert.equal((await blocked()) - before, 1, 'counted once for its signature')
    })
  }
})
