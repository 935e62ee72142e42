import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type StartedProcess, startProcess } from '../../../test/harness/child-process.ts'
import { freePort } from '../../../test/harness/free-port.ts'
import { cryptoInlineKey, cryptos } from '../../sdp/attributes.ts'
import { assertSdpMatches } from '../../sdp/golden.ts'
import { SessionDescription } from '../../sdp/session-description.ts'
import { NgRemoteError } from './errors.ts'
import { NgClient } from './ng-client.ts'

/**
 * Interop with the real rtpengine daemon (Debian rtpengine-daemon, userspace forwarding only): proves
 * that our bencode, framing, cookies and request keys are what rtpengine speaks.
 */
describe('NgClient against rtpengine', function () {
  this.timeout(30_000)
  let daemon: StartedProcess
  let client: NgClient
  let dir: string
  const portMin = 41000 + 2 * Math.floor(Math.random() * 5000)
  const portMax = portMin + 99

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kube-sbc-rtpengine-'))
    const ngPort = await freePort()
    daemon = startProcess(
      '/usr/bin/rtpengine',
      [
        '--config-file=none',
        '--interface=127.0.0.1',
        `--listen-ng=127.0.0.1:${ngPort}`,
        `--port-min=${portMin}`,
        `--port-max=${portMax}`,
        '--foreground',
        '--log-stderr',
        '--log-level=6',
        '--table=-1',
        '--num-threads=1',
        '--delete-delay=0',
        `--pidfile=${join(dir, 'rtpengine.pid')}`,
      ],
      { cwd: dir },
    )
    await daemon.waitForOutput(/Startup complete/)
    client = await NgClient.connect({ host: '127.0.0.1', port: ngPort, retransmitMs: 200 })
  })

  after(async () => {
    await client?.close()
    await daemon?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  const callId = `interop-${process.pid}`
  const offerSdp =
    'v=0\r\no=alice 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n' +
    'm=audio 6000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n' +
    'a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\n'
  let offerPort = 0

  it('ping → pong', async () => {
    await client.ping()
  })

  it('offer RTP/AVP → RTP/SAVP with SDES rewrites c=, m= and adds a=crypto', async () => {
    const r = await client.offer({
      'call-id': callId,
      'from-tag': 'tag-a',
      sdp: offerSdp,
      'transport protocol': 'RTP/SAVP',
      replace: ['origin', 'session-connection'],
      ICE: 'remove',
      SDES: ['no-AES_256_CM_HMAC_SHA1_80', 'no-AES_256_CM_HMAC_SHA1_32', 'no-AES_192_CM_HMAC_SHA1_80'],
      flags: ['trust-address'],
    })
    assert.equal(r.result, 'ok')
    const sdp = SessionDescription.parse(r.sdp)
    const m = sdp.media[0]
    assert.ok(m)
    assert.equal(m.proto, 'RTP/SAVP')
    assert.ok(m.port >= portMin && m.port <= portMax, `port ${m.port} in rtpengine's range`)
    offerPort = m.port
    assert.equal(sdp.effectiveConnection(m)?.address, '127.0.0.1')
    const suites = cryptos(m).map((c) => c.suite)
    assert.ok(suites.includes('AES_CM_128_HMAC_SHA1_80'), suites.join(','))
    assert.ok(!suites.includes('AES_256_CM_HMAC_SHA1_80'), 'SDES-no- honoured')
    // RFC 4568 §6.2.1: AES_CM_128 suites carry a 128-bit key and a 112-bit salt, 30 bytes inline.
    for (const c of cryptos(m).filter((x) => x.suite.startsWith('AES_CM_128'))) {
      assert.equal(cryptoInlineKey(c)?.length, 30, c.keyParams)
    }
    assert.deepEqual(m.formats, ['0', '8', '101'])
  })

  it('answer maps the SRTP answer back to plain RTP/AVP for the offerer', async () => {
    const answerSdp =
      'v=0\r\no=bob 2 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n' +
      'm=audio 7000 RTP/SAVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n' +
      'a=fmtp:101 0-15\r\na=sendrecv\r\n' +
      'a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR\r\n'
    const r = await client.answer({
      'call-id': callId,
      'from-tag': 'tag-a',
      'to-tag': 'tag-b',
      sdp: answerSdp,
      'transport protocol': 'RTP/AVP',
      replace: ['origin', 'session-connection'],
    })
    assertSdpMatches(
      r.sdp,
      'v=0\r\no=bob 2 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n' +
        'm=audio PORT RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n' +
        'a=fmtp:101 0-15\r\na=sendrecv\r\na=rtcp:PORT\r\n',
    )
    const port = SessionDescription.parse(r.sdp).media[0]?.port ?? 0
    assert.ok(port >= portMin && port <= portMax && port !== offerPort)
  })

  it('query reports both tags of the call', async () => {
    const r = await client.query({ 'call-id': callId })
    assert.equal(r.result, 'ok')
    const tags = r.tags as Record<string, unknown>
    assert.ok(tags['tag-a'] && tags['tag-b'], Object.keys(tags).join(','))
  })

  it('list includes the call', async () => {
    const r = await client.list()
    assert.ok(r.calls.includes(callId), r.calls.join(','))
  })

  it('delete removes it, and a second delete with fatal is an error', async () => {
    const r = await client.delete({ 'call-id': callId, 'from-tag': 'tag-a' })
    assert.equal(r.result, 'ok')
    assert.ok(!(await client.list()).calls.includes(callId))
    await assert.rejects(
      client.delete({ 'call-id': callId, 'from-tag': 'tag-a', flags: ['fatal'] }),
      (e: unknown) => e instanceof NgRemoteError && /not found|Unknown call/i.test(e.reason),
    )
  })

  it('an offer without SDP gets an error reply (typed NgRemoteError)', async () => {
    await assert.rejects(
      client.request({ command: 'offer', 'call-id': 'x', 'from-tag': 'y' }),
      (e: unknown) => e instanceof NgRemoteError && e.reason.length > 0,
    )
  })
})
