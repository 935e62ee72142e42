import { strict as assert } from 'node:assert'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { listYamlFiles, loadObjects } from '../../cli/load-objects.ts'
import { compile } from '../../lib/config/compile/compile.ts'
import { validateConfig } from '../../lib/config/validate.ts'
import { type StartedProcess, startProcess } from '../../test/harness/child-process.ts'
import { freePort } from '../../test/harness/free-port.ts'
import { startRedis, type TestRedis } from '../../test/harness/redis.ts'
import { startSipp } from '../../test/harness/sipp.ts'
import { cdrLines, ok, root, scenario } from '../b2bua/harness.ts'
import { audioSdp, endpointOf, metric, Peer, rtpPacket } from './helpers.ts'
import { eventually, mediaPortBase, mediaSbcYaml } from './sbc-run.ts'
import { SipUa } from './sip-ua.ts'

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

/**
 * A media pod dies with a call up: the call's next re-INVITE re-anchors it on another media pod
 * (docs/b2bua.md, "Media anchoring"). Two media processes serve the same realms on different port
 * ranges (one machine), signalling finds both in the Redis registry.
 */
describe('kube-sbc signalling: re-anchoring when the media pod dies', function () {
  this.timeout(120_000)
  let redis: TestRedis
  let dir: string
  const procs: StartedProcess[] = []
  let sip: { pbx: number; carrier: number }
  let pbx: SipUa
  let carrier: SipUa
  const ranges: { pbx: { min: number; max: number }; carrier: { min: number; max: number } }[] = []

  const kubeSbc = async (args: string[], name: string, ready: RegExp) => {
    const p = startProcess(join(root, 'bin', 'kube-sbc'), args, { env: { ...process.env, POD_NAME: name } })
    procs.push(p)
    await p.waitForOutput(ready, 60_000)
    return p
  }

  before(async () => {
    redis = await startRedis()
    pbx = await SipUa.open(await freePort())
    carrier = await SipUa.open(await freePort())
    sip = { pbx: await freePort(), carrier: await freePort() }
    dir = await mkdtemp(join(tmpdir(), 'sbc-media-reanchor-'))
    const files: string[] = []
    for (const which of ['a', 'b']) {
      const base = await mediaPortBase(200)
      const r = { pbx: { min: base, max: base + 99 }, carrier: { min: base + 100, max: base + 199 } }
      ranges.push(r)
      const yamlDir = await mkdtemp(join(dir, `${which}-`))
      await writeFile(
        join(yamlDir, 'sbc.yaml'),
        mediaSbcYaml(sip, {
          pbxPeerPort: pbx.port,
          carrierPeerPort: carrier.port,
          pbxRange: r.pbx,
          carrierRange: r.carrier,
          carrierSrtp: 'Optional',
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
    for (const [i, which] of ['a', 'b'].entries())
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
          String(await freePort()),
          '--drain-seconds',
          '1',
        ],
        // Registry ties go to the lowest id: the first call lands on media "a".
        `${which}-media-${sip.pbx}`,
        /Media pod started/,
      )
    await kubeSbc(
      [
        'signalling',
        '--config',
        files[0] as string,
        '--redis',
        redis.url,
        '--http-port',
        String(await freePort()),
        '--drain-seconds',
        '1',
      ],
      `signalling-${sip.pbx}`,
      /Started signalling/,
    )
  })
  after(async () => {
    pbx?.close()
    carrier?.close()
    for (const p of procs.reverse()) await p.stop(5000)
    await redis?.close()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  it('the re-INVITE after a SIGKILL moves both legs to the other media pod, and media flows there', async () => {
    const pbxRtp = await Peer.open()
    const carrierRtp = await Peer.open()
    carrier.answerWith((req) =>
      req.method === 'INVITE' ? { status: 200, sdp: audioSdp(carrierRtp.port, { codecs: '8' }) } : undefined,
    )
    const c = await pbx.invite(sip.pbx, audioSdp(pbxRtp.port, { codecs: '8' }))
    assert.equal(c.final.status, 200)
    const inRange = (p: number, r: { min: number; max: number }) => p >= r.min && p <= r.max
    const [a, b] = ranges as [(typeof ranges)[0], (typeof ranges)[0]]
    assert.ok(inRange(endpointOf(c.final.body.toString()).port, a.pbx), 'anchored on media a')
    const mediaA = procs[0] as StartedProcess
    process.kill(mediaA.pid, 'SIGKILL')
    await mediaA.exited
    const re = await c.reinvite(audioSdp(pbxRtp.port, { codecs: '8' }))
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
    assert.equal((await c.bye()).status, 200)
    pbxRtp.close()
    carrierRtp.close()
  })
})
