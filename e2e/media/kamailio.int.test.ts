import { strict as assert } from 'node:assert'
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type StartedProcess, startProcess } from '../../test/harness/child-process.ts'
import { freePort } from '../../test/harness/free-port.ts'
import { type MediaProcess, mediaConfig, metric, portBase, startMedia } from './helpers.ts'

/**
 * A real NG client: Kamailio with its rtpengine module (rtpengine_offer/answer/delete, cfg in
 * kamailio.cfg.tpl) relays a SIPp call (uac_pcap playing G.711 A-law from g711a.pcap; the UAS echoes
 * RTP with -rtp_echo) through `kube-sbc media`; media is counted on the media pod both ways.
 */
describe('Kamailio rtpengine module → kube-sbc media (SIPp call with RTP)', function () {
  this.timeout(60_000)
  const procs: StartedProcess[] = []
  let media: MediaProcess
  after(async () => {
    for (const p of procs.reverse()) await p.stop()
    await media?.stop()
  })

  it('relays the call media end to end', async () => {
    const base = portBase(200)
    media = await startMedia(mediaConfig([{ name: 'lan', min: base, max: base + 199 }]), [
      '--port-quarantine-ms',
      '0',
    ])
    const dir = join(tmpdir(), `kube-sbc-kam-${process.pid}-${Date.now()}`)
    mkdirSync(join(dir, 'pcap'), { recursive: true })
    for (const f of ['g711a.pcap', 'dtmf_2833_1.pcap'])
      symlinkSync(`/usr/share/sip-tester/${f}`, join(dir, 'pcap', f))
    const [sipPort, uasPort, uasMedia, uacPort] = [
      await freePort(),
      await freePort(),
      await freePort(),
      await freePort(),
    ]
    const cfg = readFileSync(new URL('./kamailio.cfg.tpl', import.meta.url), 'utf8')
      .replaceAll('__SIP_PORT__', String(sipPort))
      .replaceAll('__NG_PORT__', String(media.ngPort))
      .replaceAll('__UAS_PORT__', String(uasPort))
    writeFileSync(join(dir, 'kamailio.cfg'), cfg)
    const kam = startProcess('/usr/sbin/kamailio', [
      '-f',
      join(dir, 'kamailio.cfg'),
      '-DD',
      '-E',
      '-Y',
      dir,
      '-P',
      join(dir, 'k.pid'),
      '-w',
      dir,
    ])
    procs.push(kam)
    await kam.waitForOutput(/rtpengine|INFO|listening/i, 10_000).catch(() => {})
    await new Promise((r) => setTimeout(r, 1000))
    const uas = startProcess(
      '/usr/bin/sipp',
      [
        '-sf',
        new URL('./sipp-uas-sdp.xml', import.meta.url).pathname,
        '-i',
        '127.0.0.1',
        '-p',
        String(uasPort),
        '-mp',
        String(uasMedia),
        '-rtp_echo',
        '-m',
        '1',
        '-nostdin',
        '-trace_err',
      ],
      { cwd: dir },
    )
    procs.push(uas)
    await new Promise((r) => setTimeout(r, 500))
    const uac = startProcess(
      '/usr/bin/sipp',
      [
        '-sn',
        'uac_pcap',
        '-i',
        '127.0.0.1',
        '-p',
        String(uacPort),
        '-m',
        '1',
        '-nostdin',
        '-trace_err',
        `127.0.0.1:${sipPort}`,
      ],
      { cwd: dir },
    )
    procs.push(uac)
    // During the call: one session on the media pod.
    let sawSession = false
    for (let i = 0; i < 40 && !sawSession; i++) {
      await new Promise((r) => setTimeout(r, 250))
      sawSession = (await media.ng.list()).calls.length === 1
    }
    assert.ok(
      sawSession,
      `no NG session:\n${kam.output().slice(-1500)}\nUAC: ${uac.output().slice(-1500)}\nUAS: ${uas.output().slice(-800)}`,
    )
    const code = await uac.exited
    assert.equal(code, 0, `uac failed:\n${uac.output().slice(-2000)}\n${kam.output().slice(-2000)}`)
    const packetsIn = await metric(media.httpPort, 'sbc_media_packets_in_total')
    const packetsOut = await metric(media.httpPort, 'sbc_media_packets_out_total')
    // g711a.pcap holds ~250 packets; the UAS echoes each: both ways through the relay.
    assert.ok(packetsIn >= 400, `packets in ${packetsIn}`)
    assert.ok(packetsOut >= 400, `packets out ${packetsOut}`)
    assert.deepEqual((await media.ng.list()).calls, [], 'BYE deleted the session')
    assert.equal(await metric(media.httpPort, 'sbc_media_ports_in_use'), 0)
  })
})
