import assert from 'node:assert/strict'
import { createSocket, type Socket } from 'node:dgram'
import { Redis } from 'ioredis'
import { freePort } from '../../test/harness/free-port.ts'
import { startRedis, type TestRedis } from '../../test/harness/redis.ts'
import { configYaml, type Sbc, sample, sbcPorts, scrape, startSbc } from './harness.ts'

/**
 * `spec.security.rateLimit` on the wire (docs/b2bua.md, "Multi-process"): an OPTIONS flood from one
 * loopback source address gets `burst` answers, then silence; another source address (127.0.0.3)
 * is answered all along; with `banSeconds` the ban is in Redis and a second process drops the
 * banned source from its first request.
 */

/** A UDP client on one loopback address, counting the responses it gets. */
class Client {
  readonly socket: Socket
  answers = 0
  constructor(socket: Socket) {
    this.socket = socket
    socket.on('message', (m) => {
      if (m.toString('latin1').startsWith('SIP/2.0 ')) this.answers++
    })
  }

  static async open(address: string): Promise<Client> {
    const socket = createSocket('udp4')
    await new Promise<void>((resolve) => socket.bind(0, address, resolve))
    return new Client(socket)
  }

  /** Sends `count` OPTIONS (each its own transaction) to 127.0.0.1:`port`. */
  async flood(port: number, count: number): Promise<void> {
    const { address, port: own } = this.socket.address()
    for (let i = 0; i < count; i++) {
      const branch = `z9hG4bK-rl-${own}-${i}-${Math.random().toString(36).slice(2)}`
      const msg = [
        `OPTIONS sip:ping@127.0.0.1:${port} SIP/2.0`,
        `Via: SIP/2.0/UDP ${address}:${own};branch=${branch};rport`,
        `From: <sip:probe@${address}>;tag=${branch.slice(-8)}`,
        `To: <sip:ping@127.0.0.1:${port}>`,
        `Call-ID: ${branch}@${address}`,
        'CSeq: 1 OPTIONS',
        'Max-Forwards: 70',
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n')
      await new Promise<void>((resolve, reject) =>
        this.socket.send(msg, port, '127.0.0.1', (err) => (err ? reject(err) : resolve())),
      )
    }
  }

  close(): void {
    this.socket.close()
  }
}

/** Polls `read` until it returns `want` (bounded: 200 × 50 ms); returns the last value. */
async function until(read: () => Promise<number>, want: number): Promise<number> {
  let v = await read()
  for (let i = 0; i < 200 && v !== want; i++) {
    await new Promise((r) => setTimeout(r, 50))
    v = await read()
  }
  return v
}

const limited = (reason: 'rate' | 'ban') =>
  `sbc_requests_rate_limited_total{sip_interface="pbx-side",reason="${reason}"}`

describe('per-source rate limit (spec.security.rateLimit)', function () {
  this.timeout(60_000)
  const BURST = 5
  const FLOOD = 40

  async function start(rateLimit: string, redis?: string): Promise<Sbc> {
    const ports = await sbcPorts()
    const yaml = configYaml(ports, await freePort(), await freePort(), 'UDP').replace(
      '    unclassified: Reject',
      `    rateLimit: ${rateLimit}\n    unclassified: Reject`,
    )
    return startSbc(ports, 0, 0, { yaml, ...(redis ? { redis } : {}) })
  }

  describe('in-process store, no ban', () => {
    let sbc: Sbc
    before(async () => {
      // A refill of one token per 1000 s: nothing refills during the test, whatever its speed.
      sbc = await start(`{ requestsPerSecond: 0.001, burst: ${BURST} }`)
    })
    after(async () => sbc?.close())

    it('answers the burst of a flood, then drops silently; another source is unaffected', async () => {
      const flooder = await Client.open('127.0.0.2')
      const other = await Client.open('127.0.0.3')
      try {
        await flooder.flood(sbc.ports.pbx, FLOOD)
        const dropped = await until(
          async () => sample(await scrape(sbc.ports.http), limited('rate')),
          FLOOD - BURST,
        )
        assert.equal(dropped, FLOOD - BURST, 'every request beyond the burst counted as rate limited')
        await other.flood(sbc.ports.pbx, BURST)
        assert.equal(await until(async () => other.answers, BURST), BURST, 'the other source is answered')
        assert.equal(flooder.answers, BURST, 'the flooder got exactly the burst answered')
        assert.equal(sample(await scrape(sbc.ports.http), limited('ban')), 0)
      } finally {
        flooder.close()
        other.close()
      }
    })
  })

  describe('two processes on one Redis, banSeconds', () => {
    let redis: TestRedis
    let client: Redis
    let a: Sbc
    let b: Sbc
    before(async () => {
      redis = await startRedis()
      client = new Redis(redis.url, { maxRetriesPerRequest: 1 })
      const rl = `{ requestsPerSecond: 0.001, burst: ${BURST}, banSeconds: 600 }`
      a = await start(rl, redis.url)
      b = await start(rl, redis.url)
    })
    after(async () => {
      await a?.close()
      await b?.close()
      client?.disconnect()
      await redis?.close()
    })

    it('bans the flooder in Redis; the other process drops it from its first request', async () => {
      const flooder = await Client.open('127.0.0.2')
      const other = await Client.open('127.0.0.3')
      try {
        await flooder.flood(a.ports.pbx, FLOOD)
        // The first request over the limit is counted as rate limited and bans the source; the
        // rest are dropped by the ban.
        const banned = await until(
          async () => sample(await scrape(a.ports.http), limited('ban')),
          FLOOD - BURST - 1,
        )
        assert.equal(banned, FLOOD - BURST - 1)
        assert.equal(sample(await scrape(a.ports.http), limited('rate')), 1)
        const ttl = await client.pttl('sbc:{b:127.0.0.2}')
        assert.ok(ttl > 0 && ttl <= 600_000, `the ban is a Redis key with a TTL (PTTL ${ttl})`)
        await flooder.flood(b.ports.pbx, 3)
        assert.equal(await until(async () => sample(await scrape(b.ports.http), limited('ban')), 3), 3)
        assert.equal(sample(await scrape(b.ports.http), limited('rate')), 0, 'B never counted a token')
        await other.flood(b.ports.pbx, 2)
        assert.equal(await until(async () => other.answers, 2), 2, 'another source is answered by B')
        assert.equal(flooder.answers, BURST, 'the flooder got only its burst, from A')
      } finally {
        flooder.close()
        other.close()
      }
    })
  })
})
