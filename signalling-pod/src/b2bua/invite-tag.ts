import type { InviteKey } from '../../../lib/state/dialog-store.ts'
import { newTag } from './leg-messages.ts'

/** Hex digits of the random part at the start of an {@link inviteTag} (`newTag`: 64 bits). */
const RANDOM_HEX = 16
/** Hex digits of the digest after the random part. */
const DIGEST_HEX = 8

/** FNV-1a (32 bits) of the INVITE's top Via branch and CSeq number: cheap, and no secret is needed. */
function digest(invite: InviteKey): string {
  let h = 0x811c9dc5
  const text = `${invite.branch} ${invite.cseq}`
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193)
  return (h >>> 0).toString(16).padStart(DIGEST_HEX, '0')
}

/**
 * The To tag the B2BUA answers a new INVITE with (leg A's local tag): 64 random bits (RFC 3261
 * §19.3 asks for at least 32), a digest of the INVITE's transaction identity, its top Via branch
 * and CSeq number (§17.2.3), and that CSeq number in base 36. A process that finds the stored call
 * by leg A (Call-ID and From tag) can then tell from the tag alone whether an INVITE it received is
 * a retransmission of the one that created the call — a load balancer sent the copy to another
 * process — a merged request (§8.2.2.2: the same CSeq through another branch), or a different
 * request, without one more field per stored call (docs/b2bua.md, "Multi-process"). The CSeq is
 * in the tag because the stored `remoteCSeq` moves on with every PRACK and UPDATE of the caller.
 * Without an identity (no branch) the tag is random only and matches no INVITE.
 */
export function inviteTag(invite: InviteKey | undefined): string {
  return invite ? `${newTag()}${digest(invite)}${invite.cseq.toString(36)}` : newTag()
}

/** True when `tag` is an {@link inviteTag} made for this very INVITE transaction. */
export function isTagOfInvite(tag: string, invite: InviteKey | undefined): boolean {
  return invite !== undefined && tag.slice(RANDOM_HEX, RANDOM_HEX + DIGEST_HEX) === digest(invite)
}

/**
 * The CSeq number of the INVITE an {@link inviteTag} was made for; undefined for a tag without one
 * (a random tag, or one made before the CSeq was part of it: 24 hex digits).
 */
export function inviteCSeqOfTag(tag: string): number | undefined {
  const s = tag.slice(RANDOM_HEX + DIGEST_HEX)
  if (s === '' || !/^[0-9a-z]+$/.test(s)) return undefined
  return Number.parseInt(s, 36)
}
