import { strict as assert } from 'node:assert'
import { createSocket, type Socket } from 'node:dgram'
import { Redis } from 'ioredis'
import { mediaConfig, portBase } from '../../e2e/media/helpers.ts'
import { startLoopbackMediaPod } from '../../e2e/media/start-loopback-media-pod.ts'
import { MEDIA_TIMEOUT_CHANNEL, type MediaTimeoutNotice } from '../../lib/media/control/media-timeout.ts'
import { NgClient } from '../../lib/media/control/ng-client.ts'
import { nullLogger } from '../../lib/observability/logger.ts'
import { RedisStore } from '../../lib/state/redis-store.ts'
import { startRedis, type TestRedis } from '../../test/harness/redis.ts'
import type { MediaPod } from './media-pod.ts'
import type { MediaTimeoutEvent } from './ng-handler.ts'

/**
 * A media pod in this process, on loopback, with real sockets (native relay when built, and the
 * dgram relay) and a real Redis: the media timeout notice reaches a Redis subscriber and the
 * in-process callback, once per call; realms added by a later config generation get /metrics series.
 */

const config = (generation: number, realms: { name: string; min: number; max: number }[]) =>
  mediaConfig(
    realms.map((r) => ({ ...r, maxSessions: 100 })),
    generation,
  )

const sdp = (port: number) =>
  [
    'v=0',
    'o=peer 1 1 IN IP4 127.0.0.1',
    's=-',
    'c=IN IP4 127.0.0.1',
    't=0 0',
    `m=audio ${port} RTP/AVP 0`,
    'a=rtpmap:0 PCMU/8000',
    'a=sendrecv',
    '',
  ].join('\r\n')

const rtp = (seq: number) => {
  const p = Buffer.alloc(172)
  p[0] = 0x80
  p.writeUInt16BE(seq, 2)
  p.writeUInt32BE(seq * 160, 4)
  p.writeUInt32BE(0xabcdef, 8)
  return p
}

class Peer {
  readonly socket: Socket
  port = 0
  received = 0
  private constructor(s: Socket) {
    this.socket = s
    s.on('message', () => this.received++)
  }
  static async open(): Promise<Peer> {
    const s = createSocket('udp4')
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()))
    const p = new Peer(s)
    p.port = s.address().port
    return p
  }
  send(msg: Buffer, port: number): Promise<void> {
    return new Promise((ok, fail) => this.socket.send(msg, port, '127.0.0.1', (e) => (e ? fail(e) : ok())))
  }
}

/** Polls `cond` every 20 ms; fails with `what` after `ms`. */
async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

/** Offer from `ta` (A), answer from `tb` (B) in `realm`; returns the relay ports toward A and B. */
async function call(ng: NgClient, callId: string, a: Peer, b: Peer, realm?: string) {
  const offer = await ng.offer({
    'call-id': callId,
    'from-tag': 'ta',
    sdp: sdp(a.port),
    ...(realm ? { direction: [realm, realm] } : {}),
  })
  const answer = await ng.answer({ 'call-id': callId, 'from-tag': 'ta', 'to-tag': 'tb', sdp: sdp(b.port) })
  const port = (s: string) => Number(/m=audio (\d+)/.exec(s)?.[1])
  return { toB: port(offer.sdp), toA: port(answer.sdp) }
}

async function metricText(pod: MediaPod): Promise<string> {
  return (await fetch(`http://127.0.0.1:${pod.httpPort}/metrics`)).text()
}

/** The value of `name` with `realm="<realm>"` in /metrics text, or undefined when there is none. */
function metricValue(text: string, name: string, realm: string): number | undefined {
  for (const line of text.split('\n'))
    if (line.startsWith(`${name}{`) && line.includes(`realm="${realm}"`))
      return Number(line.slice(line.lastIndexOf(' ') + 1))
  return undefined
}

for (const workers of [1, 0]) {
  describe(`media timeout notice to signalling (workers ${workers})`, function () {
    this.timeout(30_000)
    let redis: TestRedis
    let store: RedisStore
    let sub: Redis
    let pod: MediaPod
    let ng: NgClient
    const published: string[] = []
    const notices: MediaTimeoutNotice[] = []
    const streams: MediaTimeoutEvent[] = []
    const peers: Peer[] = []

    before(async () => {
      redis = await startRedis()
      store = new RedisStore({ url: redis.url, logger: nullLogger })
      await store.connected(5_000)
      sub = new Redis(redis.url)
      sub.on('message', (channel: string, message: string) => {
        if (channel === MEDIA_TIMEOUT_CHANNEL) published.push(message)
      })
      await sub.subscribe(MEDIA_TIMEOUT_CHANNEL)
      const base = portBase(100)
      pod = await startLoopbackMediaPod({
        config: config(1, [{ name: 'lan', min: base, max: base + 99 }]),
        store,
        podId: `media-test-${workers}`,
        workers,
        mediaTimeoutMs: 1_000,
        onTimeout: (n) => notices.push(n),
        onMediaTimeout: (e) => streams.push(e),
      })
      ng = await NgClient.connect({ host: '127.0.0.1', port: pod.ngAddress.port, retransmitMs: 200 })
    })
    after(async () => {
      for (const p of peers) p.socket.close()
      await ng?.close()
      await pod?.close()
      sub?.disconnect()
      await store?.close()
      await redis?.close()
    })

    it('publishes {callId, fromTag, pod, idleSeconds} on kube-sbc:media-timeout once the RTP stops, once per call', async () => {
      const a = await Peer.open()
      const b = await Peer.open()
      peers.push(a, b)
      const callId = `timeout-${workers}-${Date.now()}`
      const { toA, toB } = await call(ng, callId, a, b)
      for (let i = 0; i < 5; i++) await a.send(rtp(i), toA)
      for (let i = 0; i < 5; i++) await b.send(rtp(100 + i), toB)
      await until(() => a.received === 5 && b.received === 5, 'RTP relayed both ways')
      // Both parties fall silent now.
      await until(() => published.length > 0, 'the media timeout message on Redis')
      const msg = JSON.parse(published[0] as string)
      assert.deepEqual(Object.keys(msg).sort(), ['callId', 'fromTag', 'idleSeconds', 'pod'])
      assert.equal(msg.callId, callId)
      assert.equal(msg.fromTag, 'ta')
      assert.equal(msg.pod, `media-test-${workers}`)
      assert.ok(Number.isInteger(msg.idleSeconds) && msg.idleSeconds >= 1, `idleSeconds ${msg.idleSeconds}`)
      assert.deepEqual(notices[0], msg, 'the in-process callback gets the same object')
      const q = await ng.query({ 'call-id': callId })
      assert.equal(q['media timeout'], 1)
      // Both streams go silent (two per-stream events), but the call is reported once.
      await until(() => streams.filter((s) => s.callId === callId).length === 2, 'both streams timed out')
      assert.equal(notices.filter((n) => n.callId === callId).length, 1)
      assert.equal((await ng.query({ 'call-id': callId }))['media timeout'], 1)
      await ng.delete({ 'call-id': callId, 'from-tag': 'ta' })
      assert.equal(published.length, 1)
    })
  })
}

describe('media pod metrics follow realms added by a later config generation', function () {
  this.timeout(30_000)
  let pod: MediaPod
  let ng: NgClient
  const peers: Peer[] = []

  before(async () => {
    const base = portBase(200)
    pod = await startLoopbackMediaPod({
      config: config(1, [{ name: 'first', min: base, max: base + 99 }]),
      podId: 'media-metrics-test',
      workers: 1,
    })
    pod.applyConfig(
      config(2, [
        { name: 'first', min: base, max: base + 99 },
        { name: 'late', min: base + 100, max: base + 149 },
      ]),
    )
    ng = await NgClient.connect({ host: '127.0.0.1', port: pod.ngAddress.port, retransmitMs: 200 })
  })
  after(async () => {
    for (const p of peers) p.socket.close()
    await ng?.close()
    await pod?.close()
  })

  it('serves realm="late" series: capacity, sessions and packets', async () => {
    const before = await metricText(pod)
    assert.equal(metricValue(before, 'sbc_media_ports_capacity', 'late'), 50)
    assert.equal(metricValue(before, 'sbc_media_ports_capacity', 'first'), 100)
    assert.equal(metricValue(before, 'sbc_media_packets_in_total', 'late'), 0)
    const a = await Peer.open()
    const b = await Peer.open()
    peers.push(a, b)
    const { toA } = await call(ng, `late-${Date.now()}`, a, b, 'late')
    for (let i = 0; i < 3; i++) await a.send(rtp(i), toA)
    await until(() => b.received === 3, 'RTP relayed in the late realm')
    const after = await metricText(pod)
    assert.equal(metricValue(after, 'sbc_media_sessions', 'late'), 1)
    assert.equal(metricValue(after, 'sbc_media_packets_in_total', 'late'), 3)
    assert.equal(metricValue(after, 'sbc_media_packets_out_total', 'late'), 3)
    assert.equal(metricValue(after, 'sbc_media_ports_in_use', 'late'), 4)
    assert.equal(metricValue(after, 'sbc_media_packets_in_total', 'first'), 0)
  })
})
