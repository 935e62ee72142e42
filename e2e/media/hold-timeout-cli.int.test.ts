import { strict as assert } from 'node:assert'
import { spawnSync } from 'node:child_process'
import { rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  audioSdp,
  endpointOf,
  type MediaProcess,
  mediaConfig,
  metric,
  Peer,
  portBase,
  rtpPacket,
  startMedia,
} from './helpers.ts'

/**
 * `--hold-timeout N` on the command line: `kube-sbc media` passes it to its media pod (a call held
 * both ways is reported with `--media-timeout 0 --hold-timeout 1`), and `kube-sbc media` and
 * `kube-sbc run` refuse a bad value as they refuse a bad `--media-timeout`: one line, the usage,
 * exit 2. The media pod as a child process (dgram relay), our NG client, bare UDP sockets, loopback.
 */
describe('kube-sbc media / run --hold-timeout', function () {
  this.timeout(60_000)
  const base = portBase(20)
  const config = mediaConfig([{ name: 'lan', min: base, max: base + 19 }])
  const file = join(tmpdir(), `kube-sbc-hold-timeout-${process.pid}.json`)
  let media: MediaProcess | undefined
  const peers: Peer[] = []

  before(() => writeFileSync(file, JSON.stringify(config)))
  after(async () => {
    for (const p of peers) p.close()
    await media?.stop()
    rmSync(file, { force: true })
  })

  /** `kube-sbc <args>`, run to its exit. */
  const cli = (...args: string[]) =>
    spawnSync(process.execPath, ['cli/main.ts', ...args], { encoding: 'utf8', timeout: 30_000 })

  for (const bad of ['abc', '86401'])
    for (const [command, ...args] of [
      ['media', '--config', file],
      ['run', '-f', file],
    ] as const)
      it(`kube-sbc ${command} refuses --hold-timeout ${bad} with a one-line usage error, exit 2`, () => {
        const r = cli(command, ...args, `--hold-timeout=${bad}`)
        assert.equal(r.status, 2, r.stderr)
        assert.equal(r.stderr.split('\n')[0], 'kube-sbc: --hold-timeout must be an integer 0-86400')
        assert.match(r.stderr, new RegExp(`usage: kube-sbc ${command} `))
        assert.doesNotMatch(r.stderr, /\n\s+at /, 'a usage message, not a stack trace')
      })

  for (const command of ['media', 'run'])
    it(`kube-sbc ${command} --help lists --hold-timeout`, () => {
      const r = cli(command, '--help')
      assert.equal(r.status, 0)
      assert.match(r.stdout, /--hold-timeout N +instead, for a media section on hold \(sendonly\/recvonly/)
    })

  it('kube-sbc media --media-timeout 0 --hold-timeout 1 reports a call both parties hold', async () => {
    media = await startMedia(config, [
      '--workers',
      '0',
      '--port-quarantine-ms',
      '0',
      '--media-timeout',
      '0',
      '--hold-timeout',
      '1',
    ])
    const a = await Peer.open()
    const b = await Peer.open()
    peers.push(a, b)
    const exchange = async (dir: string) => {
      const sdp = (port: number) => audioSdp(port, { codecs: '0' }).replace('a=sendrecv', `a=${dir}`)
      const o = await media!.ng.offer({
        'call-id': 'held',
        'from-tag': 'ta',
        'to-tag': 'tb',
        sdp: sdp(a.port),
      })
      const r = await media!.ng.answer({
        'call-id': 'held',
        'from-tag': 'ta',
        'to-tag': 'tb',
        sdp: sdp(b.port),
      })
      return { toB: endpointOf(o.sdp).port, toA: endpointOf(r.sdp).port }
    }
    const { toA, toB } = await exchange('sendrecv')
    await a.send(rtpPacket(1, 0, 0xaaaa), toA)
    await b.send(rtpPacket(1, 0, 0xbbbb), toB)
    await a.waitFor(1)
    await b.waitFor(1)
    await exchange('inactive')
    const end = Date.now() + 10_000
    while ((await media.ng.query({ 'call-id': 'held' }))['media timeout'] !== 1) {
      if (Date.now() > end) throw new Error('timed out waiting for the held call to be reported')
      await new Promise((r) => setTimeout(r, 100))
    }
    assert.equal(await metric(media.httpPort, 'sbc_media_timeouts_total'), 2, 'both held parties')
    await media.ng.delete({ 'call-id': 'held', 'from-tag': 'ta' })
  })
})
