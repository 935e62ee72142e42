import assert from 'node:assert/strict'
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process'
import { createInterface, type Interface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { SrtpContext } from './context.ts'
import { generateSdesKey } from './sdes.ts'
import type { SrtpSuiteName } from './suites.ts'

/* Interop with libsrtp (Debian libsrtp2 through python3-pylibsrtp) in both directions, for every suite
 * pylibsrtp exposes: we protect → libsrtp unprotects, libsrtp protects → we unprotect; SRTP and SRTCP;
 * across the ROC wrap; replays rejected by both. */

const PEER = fileURLToPath(new URL('../fixtures/libsrtp-peer.py', import.meta.url))

/** The helper process, one request in flight at a time. */
class LibsrtpPeer {
  private readonly child: ChildProcessWithoutNullStreams
  private readonly lines: Interface
  private readonly queue: Array<(line: string) => void> = []
  private readonly ready: Promise<string>

  constructor() {
    this.child = spawn('/usr/bin/python3', [PEER], { stdio: ['pipe', 'pipe', 'pipe'] })
    let stderr = ''
    this.child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString()
    })
    this.lines = createInterface({ input: this.child.stdout })
    this.lines.on('line', (l) => this.queue.shift()?.(l))
    this.ready = new Promise((resolve, reject) => {
      this.queue.push(resolve)
      this.child.once('exit', (code) => reject(new Error(`libsrtp-peer exited ${code}: ${stderr}`)))
    })
  }

  async request(req: Record<string, string>): Promise<{ ok: boolean; packet?: string; error?: string }> {
    await this.ready
    const reply = new Promise<string>((resolve) => this.queue.push(resolve))
    this.child.stdin.write(`${JSON.stringify(req)}\n`)
    return JSON.parse(await reply) as { ok: boolean; packet?: string; error?: string }
  }

  async run(op: string, id: string, packet: Buffer): Promise<Buffer> {
    const r = await this.request({ op, id, packet: packet.toString('hex') })
    if (!r.ok) throw new Error(`libsrtp ${op} failed: ${r.error}`)
    return Buffer.from(r.packet ?? '', 'hex')
  }

  async stop(): Promise<void> {
    this.child.stdin.end()
    if (this.child.exitCode === null) await new Promise((r) => this.child.once('exit', r))
  }
}

function rtp(seq: number, ssrc: number): Buffer {
  const b = Buffer.alloc(12 + 160)
  b[0] = 0x80
  b.writeUInt16BE(seq, 2)
  b.writeUInt32BE((seq * 160) >>> 0, 4)
  b.writeUInt32BE(ssrc, 8)
  for (let i = 12; i < b.length; i++) b[i] = (i * 7 + seq) & 0xff
  return b
}

function rtcp(ssrc: number): Buffer {
  const b = Buffer.alloc(28)
  b[0] = 0x80
  b[1] = 200
  b.writeUInt16BE(6, 2)
  b.writeUInt32BE(ssrc, 4)
  b.fill(0x5a, 8)
  return b
}

const SUITES: SrtpSuiteName[] = [
  'AES_CM_128_HMAC_SHA1_80',
  'AES_CM_128_HMAC_SHA1_32',
  'AEAD_AES_128_GCM',
  'AEAD_AES_256_GCM',
]
const SEQS = [65533, 65534, 65535, 0, 1, 2]

describe('SRTP interop with libsrtp (pylibsrtp)', function () {
  this.timeout(30_000)
  let peer: LibsrtpPeer
  before(() => {
    peer = new LibsrtpPeer()
  })
  after(async () => {
    await peer.stop()
  })

  for (const suite of SUITES) {
    describe(suite, () => {
      it('kube-sbc protects → libsrtp unprotects, SRTP across the ROC wrap and SRTCP', async () => {
        const k = generateSdesKey(suite)
        const key = Buffer.concat([k.masterKey, k.masterSalt]).toString('hex')
        const id = `in-${suite}`
        assert.ok((await peer.request({ op: 'session', id, profile: suite, key, direction: 'inbound' })).ok)
        const tx = SrtpContext.fromMasterKey(suite, k.masterKey, k.masterSalt)
        for (const seq of SEQS)
          assert.deepEqual(
            await peer.run('unprotect', id, tx.protect(rtp(seq, 0xcafe0001))),
            rtp(seq, 0xcafe0001),
          )
        for (let i = 0; i < 3; i++) {
          assert.deepEqual(
            await peer.run('unprotect_rtcp', id, tx.protectRtcpPacket(rtcp(0xcafe0001))),
            rtcp(0xcafe0001),
          )
        }
        // libsrtp rejects our packet replayed, and one we tampered with.
        const again = tx.protect(rtp(3, 0xcafe0001))
        await peer.run('unprotect', id, again)
        const replay = await peer.request({ op: 'unprotect', id, packet: again.toString('hex') })
        assert.equal(replay.ok, false)
        assert.match(replay.error ?? '', /replay/i)
        const forged = tx.protect(rtp(4, 0xcafe0001))
        forged[30] = (forged[30] as number) ^ 1
        assert.equal((await peer.request({ op: 'unprotect', id, packet: forged.toString('hex') })).ok, false)
      })

      it('libsrtp protects → kube-sbc unprotects, SRTP across the ROC wrap and SRTCP', async () => {
        const k = generateSdesKey(suite)
        const key = Buffer.concat([k.masterKey, k.masterSalt]).toString('hex')
        const id = `out-${suite}`
        assert.ok((await peer.request({ op: 'session', id, profile: suite, key, direction: 'outbound' })).ok)
        const rx = SrtpContext.fromMasterKey(suite, k.masterKey, k.masterSalt)
        const protectedPackets: Buffer[] = []
        for (const seq of SEQS) {
          const s = await peer.run('protect', id, rtp(seq, 0xbeef0002))
          protectedPackets.push(s)
          assert.deepEqual(rx.unprotect(s), rtp(seq, 0xbeef0002))
        }
        assert.equal(rx.rocOf(0xbeef0002), 1)
        for (let i = 0; i < 3; i++) {
          assert.deepEqual(
            rx.unprotectRtcpPacket(await peer.run('protect_rtcp', id, rtcp(0xbeef0002))),
            rtcp(0xbeef0002),
          )
        }
        // We reject a libsrtp packet replayed (the one at SEQ 0, after the wrap) and count it.
        assert.throws(() => rx.unprotect(protectedPackets[3] as Buffer), { code: 'SBC_ERR_SRTP_REPLAY' })
        assert.equal(rx.counters.replayDrops, 1)
        const srtcp = await peer.run('protect_rtcp', id, rtcp(0xbeef0002))
        rx.unprotectRtcpPacket(srtcp)
        assert.throws(() => rx.unprotectRtcpPacket(srtcp), { code: 'SBC_ERR_SRTP_REPLAY' })
      })
    })
  }
})
