import { strict as assert } from 'node:assert'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { listYamlFiles, loadObjects } from '../../cli/load-objects.ts'
import { compile } from '../../lib/config/compile/compile.ts'
import { validateConfig } from '../../lib/config/validate.ts'
import { formatSdesKeyParams, generateSdesKey, parseSdesKeyParams } from '../../lib/media/srtp/sdes.ts'
import type { SipRequest, SipResponse } from '../../lib/sip/message/message.ts'
import { type StartedProcess, startProcess } from '../../test/harness/child-process.ts'
import { freePort } from '../../test/harness/free-port.ts'
import { startRedis, type TestRedis } from '../../test/harness/redis.ts'
import { startSipp } from '../../test/harness/sipp.ts'
import { cdrLines, ok, root, scenario } from '../b2bua/harness.ts'
import { audioSdp, endpointOf, metric, Peer, rtpPacket } from './helpers.ts'
import { Libsrtp } from './libsrtp.ts'
import { rtpPayload } from './pcap.ts'
import { eventually, mediaPortBase, mediaSbcYaml } from './sbc-run.ts'
import { SipUa } from './sip-ua.ts'

type Named = { name: string; p: StartedProcess }

/**
 * A failed test prints what the processes wrote while it ran: the cause of a missing re-INVITE,
 * BYE or 2xx is in their logs (watch, claims, NG, transactions), not in the assertion.
 */
function logsOnFailure(procs: () => Named[]) {
  let marks = new Map<StartedProcess, number>()
  beforeEach(() => {
    marks = new Map(procs().map(({ p }) => [p, p.output().length]))
  })
  afterEach(function () {
    if (this.currentTest?.state !== 'failed') return
    for (const { name, p } of procs()) {
      const out = p.output()
      const since = out.slice(Math.min(marks.get(p) ?? 0, out.length))
      console.log(
        `----- ${name} (pid ${p.pid}) -----\n${since.length > 200_000 ? `…${since.slice(-200_000)}` : since}`,
      )
    }
  })
}

/**
 * The cluster shape on one machine: `kube-sbc media` and `kube-sbc signalling` as two processes
 * sharing a real redis-server. Signalling finds the media pod in the registry it heartbeats into,
 * and learns of media timeouts from the Redis channel the media pod publishes on.
 */
describe('kube-sbc signalling + kube-sbc media (two processes, Redis)', function () {
  this.timeout(120_000)
  let redis: TestRedis
  let client: Redis
  let media: StartedProcess
  let signalling: StartedProcess
  let dir: string
  let pbxPeerPort: number
  let carrierPeerPort: number
  let sip: { pbx: number; carrier: number }
  let mediaHttp: number
  let carrierRange: { min: number; max: number }
  logsOnFailure(() => [
    ...(media ? [{ name: 'media', p: media }] : []),
    ...(signalling ? [{ name: 'signalling', p: signalling }] : []),
  ])

  before(async () => {
    redis = await startRedis()
    client = new Redis(redis.url, { maxRetriesPerRequest: 1 })
    const base = await mediaPortBase(400)
    carrierRange = { min: base + 200, max: base + 399 }
    pbxPeerPort = await freePort()
    carrierPeerPort = await freePort()
    sip = { pbx: await freePort(), carrier: await freePort() }
    dir = await mkdtemp(join(tmpdir(), 'sbc-media-cluster-'))
    await writeFile(
      join(dir, 'sbc.yaml'),
      mediaSbcYaml(sip, {
        pbxPeerPort,
        carrierPeerPort,
        pbxRange: { min: base, max: base + 199 },
        carrierRange,
        carrierSrtp: 'Optional',
      }),
    )
    // The snapshot the operator would write into <sbc>-config, compiled from the same CRs.
    const { objects } = loadObjects(listYamlFiles([dir]))
    const snapshot = validateConfig(
      compile(
        objects.map((o) => o.object),
        { generation: 1 },
      ).config,
    )
    const file = join(dir, 'snapshot.json')
    await writeFile(file, JSON.stringify(snapshot))
    mediaHttp = await freePort()
    media = startProcess(
      join(root, 'bin', 'kube-sbc'),
      [
        'media',
        '--config',
        file,
        '--redis',
        redis.url,
        '--ng-port',
        String(await freePort()),
        '--http-port',
        String(mediaHttp),
        '--media-timeout',
        '2',
        '--drain-seconds',
        '1',
      ],
      { env: { ...process.env, POD_NAME: `media-${sip.pbx}` } },
    )
    await media.waitForOutput(/Media pod started/, 60_000)
    signalling = startProcess(
      join(root, 'bin', 'kube-sbc'),
      [
        'signalling',
        '--config',
        file,
        '--redis',
        redis.url,
        '--http-port',
        String(await freePort()),
        '--drain-seconds',
        '1',
      ],
      { env: { ...process.env, POD_NAME: `signalling-${sip.pbx}` } },
    )
    await signalling.waitForOutput(/Started signalling/, 60_000)
  })
  after(async () => {
    await signalling?.stop(5000)
    await media?.stop(5000)
    client?.disconnect()
    await redis?.close()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  it('anchors calls on the registered media pod; 20 calls leave no session and no call key', async () => {
    const calls = 20
    const uas = await startSipp({
      scenario: { file: await scenario('uas-answer.xml') },
      transport: 'u1',
      localPort: carrierPeerPort,
      calls,
      timeoutSeconds: 60,
    })
    await new Promise((r) => setTimeout(r, 200))
    const uac = await startSipp({
      scenario: { file: await scenario('uac-call.xml') },
      target: `127.0.0.1:${sip.pbx}`,
      transport: 'u1',
      localPort: pbxPeerPort,
      calls,
      rate: 10,
      timeoutSeconds: 60,
      extra: ['-l', '1'],
    })
    const [a, b] = await Promise.all([uac.result(), uas.result()])
    ok(a, calls, 'SIPp UAC')
    ok(b, calls, 'SIPp UAS')
    // The media process counted the offers: the calls were anchored there, not passed through.
    assert.ok((await metric(mediaHttp, 'sbc_media_ng_requests_total')) >= 3 * calls)
    assert.equal(await metric(mediaHttp, 'sbc_media_sessions'), 0)
    const keys = (await client.keys('*')).filter((k) => !k.includes('{m}:pods'))
    assert.deepEqual(keys, [])
  })

  it('a silent call is ended after the media pod publishes its timeout', async () => {
    const pbx = await SipUa.open(pbxPeerPort)
    const carrier = await SipUa.open(carrierPeerPort)
    try {
      carrier.answerWith((req) =>
        req.method === 'INVITE' ? { status: 200, sdp: audioSdp(40_002, { codecs: '8' }) } : undefined,
      )
      pbx.answerWith(() => undefined)
      const { final } = await pbx.invite(sip.pbx, audioSdp(40_000, { codecs: '8' }))
      assert.equal(final.status, 200)
      const invite = await carrier.waitFor(carrier.request('INVITE'), 'INVITE on the carrier leg')
      const port = endpointOf(invite.body.toString('utf8')).port
      assert.ok(port >= carrierRange.min && port <= carrierRange.max, `${port} in the carrier realm`)
      await pbx.waitFor(pbx.request('BYE'), 'BYE toward the caller', 30_000)
      await carrier.waitFor(carrier.request('BYE'), 'BYE toward the callee', 30_000)
      await eventually(
        async () =>
          cdrLines(signalling.output()).some(
            (c) => (c as { hangup: { reason: string } }).hangup.reason === 'media-timeout',
          ),
        'CDR with media-timeout',
      )
      await eventually(
        async () => (await client.keys('*')).filter((k) => !k.includes('{m}:pods')).length === 0,
        'no call key in Redis',
      )
      await eventually(async () => (await metric(mediaHttp, 'sbc_media_sessions')) === 0, 'session deleted')
    } finally {
      pbx.close()
      carrier.close()
    }
  })
})

interface Range {
  min: number
  max: number
}

/**
 * Two `kube-sbc media` processes ("a" and "b", same realms, different port ranges on one machine)
 * and one `kube-sbc signalling`, sharing a redis-server; the SIP peers are test UAs.
 */
async function twoMediaPods(
  mediaArgs: string[] = [],
  signallingProcesses = 1,
  mediaPods = 2,
  carrierSrtp: 'Mandatory' | 'Optional' = 'Optional',
) {
  const names = ['a', 'b', 'c'].slice(0, mediaPods)
  const redis = await startRedis()
  const procs: Named[] = []
  const pbx = await SipUa.open(await freePort())
  const carrier = await SipUa.open(await freePort())
  const sip = { pbx: await freePort(), carrier: await freePort() }
  const dir = await mkdtemp(join(tmpdir(), 'sbc-media-reanchor-'))
  const ranges: { pbx: Range; carrier: Range }[] = []
  const kubeSbc = async (args: string[], name: string, ready: RegExp) => {
    const p = startProcess(join(root, 'bin', 'kube-sbc'), args, { env: { ...process.env, POD_NAME: name } })
    procs.push({ name, p })
    await p.waitForOutput(ready, 60_000)
    return p
  }
  const close = async () => {
    pbx.close()
    carrier.close()
    for (const { p } of [...procs].reverse()) await p.stop(5000)
    await redis.close()
    await rm(dir, { recursive: true, force: true })
  }
  try {
    const files: string[] = []
    // A second signalling process listens on its own SIP ports (same peers, same realms).
    const sip2 = { pbx: await freePort(), carrier: await freePort() }
    for (const which of [...names, 's2']) {
      const base =
        which === 's2'
          ? (ranges[0] as { pbx: Range }).pbx.min
          : await mediaPortBase(
              200,
              ranges.map((r) => r.pbx.min),
            )
      const r = { pbx: { min: base, max: base + 99 }, carrier: { min: base + 100, max: base + 199 } }
      if (which !== 's2') ranges.push(r)
      const yamlDir = await mkdtemp(join(dir, `${which}-`))
      await writeFile(
        join(yamlDir, 'sbc.yaml'),
        mediaSbcYaml(which === 's2' ? sip2 : sip, {
          pbxPeerPort: pbx.port,
          carrierPeerPort: carrier.port,
          pbxRange: r.pbx,
          carrierRange: r.carrier,
          carrierSrtp,
        }),
      )
      const { objects } = loadObjects(listYamlFiles([yamlDir]))
      const file = join(dir, `${which}.json`)
      await writeFile(
        file,
        JSON.stringify(
          validateConfig(
            compile(
              objects.map((o) => o.object),
              { generation: 1 },
            ).config,
          ),
        ),
      )
      files.push(file)
    }
    const media: StartedProcess[] = []
    const mediaHttp: number[] = []
    for (const [i, which] of names.entries()) {
      mediaHttp.push(await freePort())
      media.push(
        await kubeSbc(
          [
            'media',
            '--config',
            files[i] as string,
            '--redis',
            redis.url,
            '--ng-port',
            String(await freePort()),
            '--http-port',
            String(mediaHttp[i]),
            '--drain-seconds',
            '1',
            ...mediaArgs,
          ],
          // Registry ties go to the lowest id: the first call lands on media "a".
          `${which}-media-${sip.pbx}`,
          /Media pod started/,
        ),
      )
    }
    const signallings: StartedProcess[] = []
    const signallingHttp: number[] = []
    for (let i = 0; i < signallingProcesses; i++) {
      signallingHttp.push(await freePort())
      signallings.push(
        await kubeSbc(
          [
            'signalling',
            '--config',
            files[i === 0 ? 0 : mediaPods] as string,
            '--redis',
            redis.url,
            '--http-port',
            String(signallingHttp[i]),
            '--drain-seconds',
            '1',
          ],
          `signalling-${i}-${sip.pbx}`,
          /Started signalling/,
        ),
      )
    }
    const signalling = signallings[0] as StartedProcess
    const killed = names.map(() => false)
    /** SIGKILL of media pod `i` (once), by the PID this test started. */
    const killMedia = async (i: number) => {
      if (killed[i]) return
      killed[i] = true
      const p = media[i] as StartedProcess
      process.kill(p.pid, 'SIGKILL')
      await p.exited
    }
    return {
      /** Every process started, by pod name. */
      procs,
      killMedia,
      /** Indexes of the media pods not killed. */
      alive: () => names.map((_, i) => i).filter((i) => !killed[i]),
      redis,
      pbx,
      carrier,
      sip,
      ranges: ranges as [(typeof ranges)[0], (typeof ranges)[0], ...(typeof ranges)[0][]],
      media: media as [StartedProcess, StartedProcess, ...StartedProcess[]],
      mediaHttp,
      signalling,
      signallings,
      signallingHttp,
      close,
    }
  } catch (err) {
    await close()
    throw err
  }
}

const inRange = (p: number, r: Range) => p >= r.min && p <= r.max

/**
 * A media pod dies with a call up: the call's next re-INVITE re-anchors it on another media pod
 * (docs/b2bua.md, "Media anchoring"), before signalling notices the pod is gone (default heartbeat:
 * its registry entry outlives the test's re-INVITE).
 */
describe('kube-sbc signalling: re-anchoring when the media pod dies', function () {
  this.timeout(120_000)
  let c: Awaited<ReturnType<typeof twoMediaPods>>
  logsOnFailure(() => c?.procs ?? [])

  before(async () => {
    c = await twoMediaPods()
  })
  after(async () => {
    await c?.close()
  })

  it('the re-INVITE after a SIGKILL moves both legs to the other media pod, and media flows there', async () => {
    const { pbx, carrier, sip } = c
    const pbxRtp = await Peer.open()
    const carrierRtp = await Peer.open()
    carrier.answerWith((req) =>
      req.method === 'INVITE' ? { status: 200, sdp: audioSdp(carrierRtp.port, { codecs: '8' }) } : undefined,
    )
    const call = await pbx.invite(sip.pbx, audioSdp(pbxRtp.port, { codecs: '8' }))
    assert.equal(call.final.status, 200)
    const [a, b] = c.ranges
    assert.ok(inRange(endpointOf(call.final.body.toString()).port, a.pbx), 'anchored on media a')
    await c.killMedia(0)
    const re = await call.reinvite(audioSdp(pbxRtp.port, { codecs: '8' }))
    assert.equal(re.status, 200)
    const toB = endpointOf(re.body.toString()).port
    assert.ok(inRange(toB, b.pbx), `re-anchored on media b: ${toB}`)
    const invites = carrier.received.filter(carrier.request('INVITE'))
    const reoffer = endpointOf((invites.at(-1) as { body: Buffer }).body.toString()).port
    assert.ok(inRange(reoffer, b.carrier), `the callee's new SDP is on media b: ${reoffer}`)
    for (let i = 0; i < 3; i++) await pbxRtp.send(rtpPacket(i, 8, 0xa), toB)
    await carrierRtp.waitFor(3)
    for (let i = 0; i < 3; i++) await carrierRtp.send(rtpPacket(10 + i, 8, 0xb), reoffer)
    await pbxRtp.waitFor(3)
    assert.equal((await call.bye()).status, 200)
    pbxRtp.close()
    carrierRtp.close()
  })
})

/**
 * A media pod dies with a call up and nobody re-offers: signalling notices the pod left the registry
 * (heartbeat every 300 ms here, so the entry expires 0.9 s after the SIGKILL) and re-INVITEs both
 * legs toward the other pod itself (signalling-pod/src/media/call-reanchor.ts); with no pod left,
 * it ends the call.
 */
describe('kube-sbc signalling: re-INVITEs both legs when the media pod dies', function () {
  this.timeout(120_000)
  let c: Awaited<ReturnType<typeof twoMediaPods>>
  logsOnFailure(() => c?.procs ?? [])

  before(async () => {
    // Two signalling processes: each notices the lost pod, exactly one moves each call.
    c = await twoMediaPods(['--heartbeat-ms', '300'], 2, 3)
  })
  after(async () => {
    await c?.close()
  })

  const origin = (sdp: string) => /^o=\S+ (\S+) (\d+) /m.exec(sdp)?.slice(1) ?? []
  const reinvites = (ua: SipUa, from = 0) =>
    ua.received.slice(from).filter(ua.request('INVITE')) as { body: Buffer; header(n: string): string }[]

  it('moves a call with RTP flowing to the other media pod: a re-INVITE to each peer, RTP again both ways', async () => {
    const { pbx, carrier, sip } = c
    const a = c.ranges[0]
    // b and c are equally free: the registry's tie goes to the lowest id, b (asserted: one pod for both legs).
    const b = c.ranges[1]
    const pbxRtp = await Peer.open()
    const carrierRtp = await Peer.open()
    try {
      carrier.answerWith((req) =>
        req.method === 'INVITE'
          ? { status: 200, sdp: audioSdp(carrierRtp.port, { codecs: '8' }) }
          : undefined,
      )
      // The caller answers the SBC's offerless re-INVITE with its SDP (RFC 3261 §14.1).
      pbx.answerWith((req) =>
        req.method === 'INVITE' ? { status: 200, sdp: audioSdp(pbxRtp.port, { codecs: '8' }) } : undefined,
      )
      // Both signalling processes know every media pod before one dies.
      for (const p of c.signallings)
        await p.waitForOutput(
          /"pods":\["a-media-\d+","b-media-\d+","c-media-\d+"\],"msg":"Watching the media pod registry"/,
          20_000,
        )
      const call = await pbx.invite(sip.pbx, audioSdp(pbxRtp.port, { codecs: '8' }))
      assert.equal(call.final.status, 200)
      const toA = endpointOf(call.final.body.toString()).port
      const first = reinvites(carrier)[0] as { body: Buffer }
      const toCarrier = endpointOf(first.body.toString()).port
      assert.ok(inRange(toA, a.pbx) && inRange(toCarrier, a.carrier), 'anchored on media a')
      // RTP both ways through media a.
      await pbxRtp.send(rtpPacket(1, 8, 0xa), toA)
      await carrierRtp.waitFor(1)
      await carrierRtp.send(rtpPacket(2, 8, 0xb), toCarrier)
      await pbxRtp.waitFor(1)
      const carrierSeen = carrier.received.length
      await c.killMedia(0)

      // The caller gets an offerless re-INVITE, the callee a re-INVITE with media b's address.
      const reA = await pbx.waitFor<SipRequest>(pbx.request('INVITE'), 're-INVITE to the caller', 20_000)
      assert.equal(reA.body.length, 0, 'offerless re-INVITE toward the caller')
      const reB = await carrier.waitFor<SipRequest>(
        (m) => carrier.received.indexOf(m) >= carrierSeen && carrier.request('INVITE')(m),
        're-INVITE to the callee',
        20_000,
      )
      const newCarrier = endpointOf(reB.body.toString()).port
      assert.ok(inRange(newCarrier, b.carrier), `the callee's new SDP is on media b: ${newCarrier}`)
      const [sessB, versionB] = origin(reB.body.toString())
      const [sess0, version0] = origin(first.body.toString())
      assert.equal(sessB, sess0, 'same o= session id toward the callee')
      assert.equal(Number(versionB), Number(version0) + 1, 'o= session version + 1 toward the callee')
      // The answer reaches the caller in the ACK of its 2xx.
      const ackA = await pbx.waitFor<SipRequest>(
        (m) => pbx.request('ACK')(m) && (m as SipRequest).body.length > 0,
        'ACK with SDP to the caller',
        20_000,
      )
      const newA = endpointOf(ackA.body.toString()).port
      assert.ok(inRange(newA, b.pbx), `the caller's new SDP is on media b: ${newA}`)
      assert.equal(
        Number(origin(ackA.body.toString())[1]),
        Number(origin(call.final.body.toString())[1]) + 1,
        'o= session version + 1 toward the caller',
      )
      const ackB = await carrier.waitFor<SipRequest>(
        (m) => carrier.request('ACK')(m) && carrier.received.indexOf(m) > carrierSeen,
        'ACK',
      )
      // Each peer sends its 2xx again, as if the ACK had been lost: the same ACK comes again
      // (RFC 3261 §13.2.2.4), the caller's with the answer.
      const acksLike = (ua: SipUa, ack: SipRequest) =>
        ua.received.filter(
          (m) => ua.request('ACK')(m) && m.callId === ack.callId && m.header('cseq') === ack.header('cseq'),
        ) as SipRequest[]
      for (const [ua, re, ack] of [
        [pbx, reA, ackA],
        [carrier, reB, ackB],
      ] as const) {
        await ua.answerAgain(re)
        await eventually(
          async () => acksLike(ua, ack).length === 2,
          'the ACK sent again for the 2xx sent again',
        )
        assert.equal(acksLike(ua, ack)[1]?.body.toString(), ack.body.toString(), 'the same ACK')
      }
      // RTP both ways through media b.
      const [pbxBefore, carrierBefore] = [pbxRtp.received.length, carrierRtp.received.length]
      for (let i = 0; i < 3; i++) await pbxRtp.send(rtpPacket(10 + i, 8, 0xa), newA)
      await carrierRtp.waitFor(carrierBefore + 3)
      for (let i = 0; i < 3; i++) await carrierRtp.send(rtpPacket(20 + i, 8, 0xb), newCarrier)
      await pbxRtp.waitFor(pbxBefore + 3)
      assert.deepEqual(
        carrierRtp.received.slice(carrierBefore).map((p) => p.msg.subarray(12).toString()),
        [10, 11, 12].map((i) => rtpPacket(i, 8).subarray(12).toString()),
        'payloads intact through media b',
      )
      // Exactly once: both signalling processes handled the lost pod, one re-INVITE per leg in all.
      for (const p of c.signallings) await p.waitForOutput(/Handled the calls of a lost media pod/, 20_000)
      assert.equal(pbx.received.filter(pbx.request('INVITE')).length, 1, 'one re-INVITE to the caller')
      assert.equal(
        carrier.received.slice(carrierSeen).filter(carrier.request('INVITE')).length,
        1,
        'one re-INVITE to the callee',
      )
      const outcome = async (o: string) => {
        let n = 0
        for (const port of c.signallingHttp)
          n += await metric(port, 'sbc_media_pod_lost_calls_total', `outcome="${o}"`)
        return n
      }
      assert.equal(await outcome('moved'), 1, 'one process moved the call')
      // The other process lost the claim (skipped) or found the call moved already (nothing counted).
      assert.equal(await outcome('ended'), 0)
      // The call goes on: a BYE from the caller ends it normally.
      assert.equal((await call.bye()).status, 200)
    } finally {
      pbxRtp.close()
      carrierRtp.close()
    }
  })

  const mediaCdrs = () =>
    c.signallings
      .flatMap((p) => cdrLines(p.output()))
      .map((l) => (l as { hangup: { by: string; reason: string; detail?: string } }).hangup)
      .filter((h) => h.by === 'sbc' && h.reason === 'media-pod-lost')
  const fresh = (ua: SipUa, seen: number, method: string) => (m: SipRequest | SipResponse) =>
    ua.received.indexOf(m) >= seen && ua.request(method)(m)
  /** Kills media pod `i` (if the previous test has not) and waits until signalling has seen it go. */
  const lose = async (i: number) => {
    await c.killMedia(i)
    const name = ['a', 'b', 'c'][i] as string
    await c.signalling.waitForOutput(
      new RegExp(`"pod":"${name}-media-\\d+".*"msg":"Media pod left the registry"`),
      20_000,
    )
  }

  /** Which media pod a port the SBC advertised toward the caller belongs to. */
  const podOf = (sdp: string) => {
    const port = endpointOf(sdp).port
    return c.ranges.findIndex((r) => inRange(port, r.pbx))
  }

  it('a callee refusing the re-INVITE: BYE on both legs, the CDR says which leg refused', async () => {
    const { pbx, carrier, sip } = c
    await lose(0)
    // The callee accepts the call, then refuses any re-INVITE (To tag present) with 488.
    carrier.answerWith((req) =>
      req.method !== 'INVITE'
        ? undefined
        : /;\s*tag=/i.test(req.header('to') ?? '')
          ? { status: 488 }
          : { status: 200, sdp: audioSdp(40_022, { codecs: '8' }) },
    )
    pbx.answerWith((req) =>
      req.method === 'INVITE' ? { status: 200, sdp: audioSdp(40_020, { codecs: '8' }) } : undefined,
    )
    const [pbxSeen, carrierSeen, cdrsBefore] = [
      pbx.received.length,
      carrier.received.length,
      mediaCdrs().length,
    ]
    const call = await pbx.invite(sip.pbx, audioSdp(40_020, { codecs: '8' }))
    assert.equal(call.final.status, 200)
    // On b or c (the one with more free capacity at its last heartbeat); the move goes to the other.
    const on = podOf(call.final.body.toString())
    assert.ok(on === 1 || on === 2, `anchored on media b or c: ${on}`)
    const target = c.ranges[3 - on] as { pbx: Range; carrier: Range }
    await c.killMedia(on)
    const reB = await carrier.waitFor<SipRequest>(
      fresh(carrier, carrierSeen + 1, 'INVITE'),
      're-INVITE',
      20_000,
    )
    assert.ok(inRange(endpointOf(reB.body.toString()).port, target.carrier), 'offered on the other live pod')
    await pbx.waitFor(fresh(pbx, pbxSeen, 'BYE'), 'BYE toward the caller', 20_000)
    await carrier.waitFor(fresh(carrier, carrierSeen, 'BYE'), 'BYE toward the callee', 20_000)
    await eventually(async () => mediaCdrs().length === cdrsBefore + 1, 'one CDR media-pod-lost')
    assert.equal(mediaCdrs().filter((h) => /re-INVITE to leg b: 488$/.test(h.detail ?? '')).length, 1)
    // The session the move opened on the other pod is deleted with the call.
    await eventually(
      async () => (await metric(c.mediaHttp[3 - on] as number, 'sbc_media_sessions')) === 0,
      'no session left on the other pod',
    )
  })

  it('with no media pod left, both legs get a BYE and the CDR says why', async () => {
    const { pbx, carrier, sip } = c
    // One media pod left (the previous tests killed the others, unless they failed first).
    const alive = c.alive()
    const last = alive.pop() as number
    for (const i of alive) await lose(i)
    carrier.answerWith((req) =>
      req.method === 'INVITE' ? { status: 200, sdp: audioSdp(40_012, { codecs: '8' }) } : undefined,
    )
    pbx.answerWith(() => undefined)
    const [pbxSeen, carrierSeen, cdrsBefore] = [
      pbx.received.length,
      carrier.received.length,
      mediaCdrs().length,
    ]
    const call = await pbx.invite(sip.pbx, audioSdp(40_010, { codecs: '8' }))
    assert.equal(call.final.status, 200)
    assert.equal(podOf(call.final.body.toString()), last, 'anchored on the last media pod')
    await c.killMedia(last)
    await pbx.waitFor(fresh(pbx, pbxSeen, 'BYE'), 'BYE toward the caller', 20_000)
    await carrier.waitFor(fresh(carrier, carrierSeen, 'BYE'), 'BYE toward the callee', 20_000)
    assert.equal(
      pbx.received.slice(pbxSeen).filter(pbx.request('INVITE')).length,
      0,
      'no re-INVITE to the caller',
    )
    // Written by the process that won the call's claim: exactly one CDR in all.
    await eventually(async () => mediaCdrs().length === cdrsBefore + 1, 'one CDR media-pod-lost')
    assert.equal(mediaCdrs().filter((h) => /no other media pod serves/.test(h.detail ?? '')).length, 1)
    const client = new Redis(c.redis.url, { maxRetriesPerRequest: 1 })
    try {
      await eventually(
        async () => (await client.keys('*')).filter((k) => /\{c:/.test(k)).length === 0,
        'no call key left in Redis',
      )
    } finally {
      client.disconnect()
    }
  })
})

/**
 * The move's re-INVITEs meeting peers that answer as real ones may (signalling-pod/src/media/
 * call-reanchor.ts): the callee's answer to the first is 491 (its own re-INVITE crossed ours, RFC
 * 3261 §14.1), and both peers answer with a new Contact (a target refresh, §12.2.1.2). The move is
 * sent again after the owner-of-the-Call-ID wait, every ACK and the final BYE go to the new
 * Contacts, and the `o=` versions each peer sees go up by exactly one per SDP (RFC 3264 §8),
 * through the move and a later re-offer of the caller relayed as usual.
 */
describe('kube-sbc signalling: a move meeting glare and new Contacts, and the SDP versions after it', function () {
  this.timeout(120_000)
  let c: Awaited<ReturnType<typeof twoMediaPods>>
  logsOnFailure(() => c?.procs ?? [])

  before(async () => {
    c = await twoMediaPods(['--heartbeat-ms', '300'], 1, 2)
  })
  after(async () => {
    await c?.close()
  })

  const version = (sdp: Buffer) => Number(/^o=\S+ \S+ (\d+) /m.exec(sdp.toString())?.[1])
  const user = (m: SipRequest) => (m.uri.kind === 'sip' ? m.uri.user : undefined)
  const inDialog = (m: SipRequest | SipResponse) => /;\s*tag=/i.test(m.header('to') ?? '')

  it('491 to the first re-INVITE toward the callee: sent again 2.1-4 s later; ACKs and BYE to the new Contacts; o= +1 per SDP', async () => {
    const { pbx, carrier, sip } = c
    const [, b] = c.ranges
    const pbxRtp = await Peer.open()
    const carrierRtp = await Peer.open()
    try {
      let calleeReinvites = 0
      carrier.answerWith((req) => {
        if (req.method !== 'INVITE') return undefined
        const sdp = audioSdp(carrierRtp.port, { codecs: '8' })
        if (!inDialog(req)) return { status: 200, sdp }
        calleeReinvites++
        return calleeReinvites === 1 ? { status: 491 } : { status: 200, sdp, contact: 'callee-moved' }
      })
      pbx.answerWith((req) =>
        req.method === 'INVITE'
          ? { status: 200, sdp: audioSdp(pbxRtp.port, { codecs: '8' }), contact: 'caller-moved' }
          : undefined,
      )
      await c.signalling.waitForOutput(
        /"pods":\["a-media-\d+","b-media-\d+"\],"msg":"Watching the media pod registry"/,
        20_000,
      )
      const call = await pbx.invite(sip.pbx, audioSdp(pbxRtp.port, { codecs: '8' }))
      assert.equal(call.final.status, 200)
      const initial = carrier.received.find(carrier.request('INVITE')) as SipRequest
      const carrierSeen = carrier.received.length
      await c.killMedia(0)

      // Two re-INVITEs at the callee: the second after the wait, with a higher CSeq and the same offer.
      await eventually(
        async () => carrier.received.slice(carrierSeen).filter(carrier.request('INVITE')).length === 2,
        'the re-INVITE sent again after the 491',
      )
      const moves = carrier.received
        .map((m, i) => ({ m: m as SipRequest, at: carrier.receivedAt[i] as number }))
        .slice(carrierSeen)
        .filter(({ m }) => carrier.request('INVITE')(m))
      const [m1, m2] = moves as [(typeof moves)[0], (typeof moves)[0]]
      assert.ok(m2.at - m1.at >= 2100, `RFC 3261 §14.1: the SBC owns leg B's Call-ID (${m2.at - m1.at} ms)`)
      assert.ok((m2.m.cseq?.seq ?? 0) > (m1.m.cseq?.seq ?? 0), 'a new CSeq')
      assert.ok(inRange(endpointOf(m2.m.body.toString()).port, b.carrier), 'offered on media b')
      assert.equal(version(m1.m.body), version(initial.body) + 1, 'o= +1 toward the callee')
      assert.equal(version(m2.m.body), version(m1.m.body), 'the same offer sent again')
      const ackB = await carrier.waitFor<SipRequest>(
        (m) =>
          carrier.received.indexOf(m) >= carrierSeen &&
          carrier.request('ACK')(m) &&
          m.cseq?.seq === m2.m.cseq?.seq,
        'ACK of the second re-INVITE',
        20_000,
      )
      assert.equal(user(ackB), 'callee-moved', "the ACK goes to the 2xx's Contact")

      // The caller: one offerless re-INVITE; the ACK with the answer goes to its new Contact.
      const ackA = await pbx.waitFor<SipRequest>(
        (m) => pbx.request('ACK')(m) && (m as SipRequest).body.length > 0,
        'ACK with SDP to the caller',
        20_000,
      )
      assert.equal(pbx.received.filter(pbx.request('INVITE')).length, 1, 'one re-INVITE to the caller')
      assert.equal(user(ackA), 'caller-moved', "the ACK goes to the 2xx's Contact")
      assert.equal(version(ackA.body), version(call.final.body) + 1, 'o= +1 toward the caller')
      const newA = endpointOf(ackA.body.toString()).port
      const newCarrier = endpointOf(m2.m.body.toString()).port
      await pbxRtp.send(rtpPacket(1, 8, 0xa), newA)
      await carrierRtp.waitFor(1)
      await carrierRtp.send(rtpPacket(2, 8, 0xb), newCarrier)
      await pbxRtp.waitFor(1)

      // A re-offer of the caller (its own version + 1) relayed as usual: each peer sees one more
      // than the move gave it, not a version it has seen already.
      const seen = carrier.received.length
      const reoffer = audioSdp(pbxRtp.port, { codecs: '8' }).replace('o=peer 1000 1 ', 'o=peer 1000 2 ')
      const re = await call.reinvite(reoffer)
      assert.equal(re.status, 200)
      const relayed = await carrier.waitFor<SipRequest>(
        (m) => carrier.received.indexOf(m) >= seen && carrier.request('INVITE')(m),
        "the caller's re-offer at the callee",
      )
      assert.equal(user(relayed), 'callee-moved', 'to the refreshed target')
      assert.equal(version(relayed.body), version(m2.m.body) + 1, 'o= +1 toward the callee after the move')
      assert.equal(version(re.body), version(ackA.body) + 1, 'o= +1 toward the caller after the move')
      // A re-offer the media step refuses (a codec neither profile has): 488 and nothing at the
      // callee; the next re-offer still reaches it as one more than the last it saw.
      const seen2 = carrier.received.length
      const peerVersion = (sdp: string, v: number) => sdp.replace('o=peer 1000 1 ', `o=peer 1000 ${v} `)
      assert.equal((await call.reinvite(peerVersion(audioSdp(pbxRtp.port, { codecs: '9' }), 3))).status, 488)
      const again = await call.reinvite(peerVersion(audioSdp(pbxRtp.port, { codecs: '8' }), 4))
      assert.equal(again.status, 200)
      const relayed2 = await carrier.waitFor<SipRequest>(
        (m) => carrier.received.indexOf(m) >= seen2 && carrier.request('INVITE')(m),
        "the caller's next re-offer at the callee",
      )
      assert.equal(version(relayed2.body), version(relayed.body) + 1, 'no version skipped after the 488')

      // The BYE reaches the callee's new Contact.
      assert.equal((await call.bye()).status, 200)
      const bye = await carrier.waitFor<SipRequest>(carrier.request('BYE'), 'BYE at the callee')
      assert.equal(user(bye), 'callee-moved')
    } finally {
      pbxRtp.close()
      carrierRtp.close()
    }
  })
})

/**
 * A move of a call whose callee leg is SRTP-Mandatory (issue 5: each leg keeps its own keys, and a
 * new media pod has new ones): after the SIGKILL of the call's media pod, the callee's re-INVITE
 * offers RTP/SAVP with a key of the new pod, not the old one, and the media on the wire is SRTP
 * under the new keys both ways — decrypted by libsrtp (pylibsrtp) with the key of the move's offer,
 * and libsrtp's packets protected with the callee's new answer key arriving as plain RTP at the
 * caller.
 */
describe('kube-sbc signalling: a moved SRTP leg stays SRTP, under the new media pod keys', function () {
  this.timeout(120_000)
  const SUITE = 'AES_CM_128_HMAC_SHA1_80'
  let c: Awaited<ReturnType<typeof twoMediaPods>>
  logsOnFailure(() => c?.procs ?? [])
  let srtp: Libsrtp

  before(async () => {
    c = await twoMediaPods(['--heartbeat-ms', '300'], 1, 2, 'Mandatory')
    srtp = new Libsrtp()
    await srtp.ready()
  })
  after(async () => {
    srtp?.close()
    await c?.close()
  })

  const keyOf = (sdp: string) => {
    const m = /a=crypto:\d+ (\S+) (inline:\S+)/.exec(sdp)
    assert.ok(m, sdp)
    assert.equal(m[1], SUITE)
    const k = parseSdesKeyParams(m[2] as string, SUITE)
    return Buffer.concat([k.masterKey, k.masterSalt])
  }

  it('the re-INVITE to the callee offers SRTP with a new key; RTP -> SRTP and SRTP -> RTP through the new pod', async () => {
    const { pbx, carrier, sip } = c
    const [, b] = c.ranges
    const pbxRtp = await Peer.open()
    const carrierRtp = await Peer.open()
    try {
      // The callee answers every offer with SRTP and a key of its own per answer.
      const calleeKeys: Buffer[] = []
      carrier.answerWith((req) => {
        if (req.method !== 'INVITE') return undefined
        const tag = /a=crypto:(\d+) /.exec(req.body.toString())?.[1] ?? '1'
        const key = generateSdesKey(SUITE)
        calleeKeys.push(Buffer.concat([key.masterKey, key.masterSalt]))
        const sdp = audioSdp(carrierRtp.port, {
          proto: 'RTP/SAVP',
          codecs: '8',
          crypto: [`${tag} ${SUITE} ${formatSdesKeyParams(key)}`],
        })
        return { status: 200, sdp }
      })
      pbx.answerWith((req) =>
        req.method === 'INVITE' ? { status: 200, sdp: audioSdp(pbxRtp.port, { codecs: '8' }) } : undefined,
      )
      await c.signalling.waitForOutput(
        /"pods":\["a-media-\d+","b-media-\d+"\],"msg":"Watching the media pod registry"/,
        20_000,
      )
      const call = await pbx.invite(sip.pbx, audioSdp(pbxRtp.port, { codecs: '8' }))
      assert.equal(call.final.status, 200)
      const initial = carrier.received.find(carrier.request('INVITE')) as SipRequest
      const oldKey = keyOf(initial.body.toString())
      const carrierSeen = carrier.received.length
      await c.killMedia(0)

      const move = await carrier.waitFor<SipRequest>(
        (m) => carrier.received.indexOf(m) >= carrierSeen && carrier.request('INVITE')(m),
        're-INVITE to the callee',
        20_000,
      )
      const offer = move.body.toString()
      assert.match(offer, /m=audio \d+ RTP\/SAVP 8/, offer)
      const toCarrier = endpointOf(offer).port
      assert.ok(inRange(toCarrier, b.carrier), `offered on media b: ${toCarrier}`)
      const newKey = keyOf(offer)
      assert.notDeepEqual(newKey, oldKey, "the new media pod's own key")
      const ackA = await pbx.waitFor<SipRequest>(
        (m) => pbx.request('ACK')(m) && (m as SipRequest).body.length > 0,
        'ACK with SDP to the caller',
        20_000,
      )
      const toPbx = endpointOf(ackA.body.toString()).port
      assert.match(ackA.body.toString(), /m=audio \d+ RTP\/AVP 8/, 'plain RTP toward the caller')
      await carrier.waitFor(
        (m) => carrier.received.indexOf(m) > carrier.received.indexOf(move) && carrier.request('ACK')(m),
        'ACK of the re-INVITE at the callee',
      )
      await srtp.session('from-sbc', SUITE, newKey, 'inbound')
      await srtp.session('old-key', SUITE, oldKey, 'inbound')
      await srtp.session('to-sbc', SUITE, calleeKeys.at(-1) as Buffer, 'outbound')

      // Caller -> callee: plain RTP in, SRTP out under the move's key (not the old one).
      const sent = [0, 1, 2].map((i) => rtpPacket(100 + i, 8, 0xa, Buffer.alloc(160, 0x40 + i)))
      for (const p of sent) await pbxRtp.send(p, toPbx)
      await carrierRtp.waitFor(3)
      const wire = carrierRtp.received.slice(0, 3).map((r) => r.msg)
      assert.ok(
        wire.every(
          (w, i) =>
            !rtpPayload(w)
              .subarray(0, 16)
              .equals(rtpPayload(sent[i] as Buffer).subarray(0, 16)),
        ),
        'encrypted on the wire',
      )
      const decrypted: Buffer[] = []
      for (const w of wire) decrypted.push(rtpPayload(await srtp.unprotect('from-sbc', w)))
      assert.deepEqual(decrypted, sent.map(rtpPayload), 'decrypts with the key of the move')
      await assert.rejects(srtp.unprotect('old-key', wire[0] as Buffer), 'not with the old key')

      // Callee -> caller: SRTP under the callee's new answer key, plain RTP at the caller.
      const back = [0, 1, 2].map((i) => rtpPacket(200 + i, 8, 0xb, Buffer.alloc(160, 0x60 + i)))
      for (const p of back) await carrierRtp.send(await srtp.protect('to-sbc', p), toCarrier)
      await pbxRtp.waitFor(3)
      assert.deepEqual(
        pbxRtp.received.slice(0, 3).map((r) => rtpPayload(r.msg)),
        back.map(rtpPayload),
        'intact as plain RTP at the caller',
      )
      assert.equal((await call.bye()).status, 200)
    } finally {
      pbxRtp.close()
      carrierRtp.close()
    }
  })
})
