import { strict as assert } from 'node:assert'
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { NgClient } from '../../lib/media/control/ng-client.ts'
import { buildMediaAddon } from '../../media-pod/native/build.ts'
import { MEDIA_ADDON_PATH } from '../../media-pod/native/media-addon.ts'
import { type StartedProcess, startProcess } from '../../test/harness/child-process.ts'
import { freePort } from '../../test/harness/free-port.ts'
import { audioSdp, endpointOf, mediaConfig, Peer, portBase, rtpPacket } from './helpers.ts'

/** Scheduling policy (field 41 of /proc/<pid>/task/<tid>/stat: 1 = SCHED_FIFO) and priority (field 40) per thread. */
function threadScheduling(pid: number): { policy: number; priority: number }[] {
  return readdirSync(`/proc/${pid}/task`).flatMap((tid) => {
    try {
      const f = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? []
      return [{ policy: Number(f[38]), priority: Number(f[37]) }]
    } catch {
      return [] // the thread ended between readdir and read
    }
  })
}

/** CAP_SYS_NICE (bit 23) in this process's effective set: what lets a process use SCHED_FIFO. */
const canRealtime = (() => {
  const hex = /CapEff:\s*([0-9a-f]+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '0'
  return (BigInt(`0x${hex}`) & (1n << 23n)) !== 0n
})()

/**
 * `kube-sbc media --worker-priority N`: the native relay threads run SCHED_FIFO at N when the process
 * may (CAP_SYS_NICE), and relay; without the capability (setpriv drops it) they run normally and the
 * process says so; a priority outside 0-99 is a usage error. Loopback only.
 */
describe('kube-sbc media --worker-priority', function () {
  this.timeout(60_000)
  const base = portBase(40)
  const file = join(tmpdir(), `kube-sbc-media-prio-${process.pid}.json`)
  let media: StartedProcess | undefined
  let ng: NgClient | undefined
  before(() => {
    buildMediaAddon()
    writeFileSync(file, JSON.stringify(mediaConfig([{ name: 'lan', min: base, max: base + 39 }])))
  })
  afterEach(async () => {
    await ng?.close()
    await media?.stop()
    ng = undefined
    media = undefined
  })
  after(() => rmSync(file, { force: true }))

  const start = async (wrap: string[], priority: string) => {
    const ngPort = await freePort()
    const args = ['cli/main.ts', 'media', '--config', file, '--ng-port', String(ngPort)]
    args.push('--http-port', String(await freePort()), '--drain-seconds', '0')
    args.push('--workers', '2', '--worker-priority', priority)
    const [cmd, ...rest] = [...wrap, process.execPath, ...args] as [string, ...string[]]
    media = startProcess(cmd, rest)
    await media.waitForOutput(/Media pod started/, 15_000)
    ng = await NgClient.connect({ host: '127.0.0.1', port: ngPort, retransmitMs: 200 })
    return { media, ng }
  }

  it('runs both relay threads SCHED_FIFO at the priority asked for, and relays RTP both ways', async function () {
    if (!canRealtime || !existsSync(MEDIA_ADDON_PATH)) this.skip()
    const { media: m, ng: c } = await start([], '5')
    const fifo = threadScheduling(m.pid).filter((t) => t.policy === 1)
    assert.deepEqual(fifo, [
      { policy: 1, priority: 5 },
      { policy: 1, priority: 5 },
    ])
    assert.doesNotMatch(m.output(), /not permitted/)
    const a = await Peer.open()
    const b = await Peer.open()
    try {
      const offer = await c.offer({ 'call-id': 'prio-1', 'from-tag': 'a', sdp: audioSdp(a.port) })
      const answer = await c.answer({
        'call-id': 'prio-1',
        'from-tag': 'a',
        'to-tag': 'b',
        sdp: audioSdp(b.port),
      })
      await a.send(rtpPacket(1), endpointOf(answer.sdp).port)
      await b.waitFor(1)
      assert.deepEqual(b.received[0]?.msg, rtpPacket(1))
      await b.send(rtpPacket(2), endpointOf(offer.sdp).port)
      await a.waitFor(1)
      assert.deepEqual(a.received[0]?.msg, rtpPacket(2))
    } finally {
      a.close()
      b.close()
    }
  })

  it('runs the relay threads normally and warns when the process may not use real-time scheduling', async function () {
    if (!canRealtime || !existsSync(MEDIA_ADDON_PATH)) this.skip() // dropping CAP_SYS_NICE needs it first
    const { media: m } = await start(
      ['setpriv', '--inh-caps=-sys_nice', '--bounding-set=-sys_nice', '--'],
      '5',
    )
    await m.waitForOutput(/real-time priority not permitted/, 5_000)
    assert.deepEqual(
      threadScheduling(m.pid).filter((t) => t.policy !== 0),
      [],
    )
  })

  /** `kube-sbc media --config <file> ...flags`, run to its exit. */
  const mediaWith = (...flags: string[]) =>
    spawnSync(process.execPath, ['cli/main.ts', 'media', '--config', file, ...flags], {
      encoding: 'utf8',
      timeout: 30_000,
    })

  it('refuses a priority outside 0-99 with a usage error', () => {
    const r = mediaWith('--worker-priority', '100')
    assert.notEqual(r.status, 0)
    assert.match(r.stderr, /--worker-priority must be an integer 0-99/)
  })

  it('refuses a --worker-spill-pps that is not a number with a usage error', () => {
    const r = mediaWith('--worker-spill-pps', 'lots')
    assert.notEqual(r.status, 0)
    assert.match(r.stderr, /--worker-spill-pps must be an integer 0-10000000/)
    assert.doesNotMatch(r.stderr, /at .*\.ts:\d+/, 'a usage message, not a stack trace')
  })
})
