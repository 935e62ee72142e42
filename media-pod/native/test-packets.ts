/** Packets the native relay's tests send: RTP with a recognisable payload, and ICE connectivity checks. */
import { buildStun, StunAttr, StunType } from '../../lib/media/stun/stun.ts'
import { hex } from '../../test/harness/rfc5769.ts'

/** An RTP packet of 160 payload octets (20 ms of G.711), its payload a pattern of `seq`. */
export function rtp(seq: number, ssrc: number): Buffer {
  const b = Buffer.alloc(12 + 160)
  b[0] = 0x80
  b.writeUInt16BE(seq, 2)
  b.writeUInt32BE(seq * 160, 4)
  b.writeUInt32BE(ssrc, 8)
  for (let i = 12; i < b.length; i++) b[i] = (i + seq) & 0xff
  return b
}

/** A check as a full ICE agent sends it (RFC 8445 §7.2.2): USERNAME, PRIORITY, ICE-CONTROLLING, MI, FP. */
export function check(
  ours: { ufrag: string; pwd: string },
  opts: { nominate?: boolean; pwd?: string } = {},
): Buffer {
  const tid = Buffer.from('0123456789ab')
  return buildStun(
    StunType.bindingRequest,
    tid,
    [
      { type: StunAttr.username, value: Buffer.from(`${ours.ufrag}:peer`) },
      { type: StunAttr.priority, value: hex('6e0001ff') },
      { type: StunAttr.iceControlling, value: hex('932ff9b151263b36') },
      ...(opts.nominate ? [{ type: StunAttr.useCandidate, value: Buffer.alloc(0) }] : []),
    ],
    { integrityKey: opts.pwd ?? ours.pwd, fingerprint: true },
  )
}
