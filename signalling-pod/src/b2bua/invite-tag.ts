import type { InviteKey } from '../../../lib/state/dialog-store.ts'
import { newTag } from './leg-messages.ts'

/** Hex digits of the digest at the end of an {@link inviteTag}. */
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
 * §19.3 asks for at least 32) followed by a digest of the INVITE's transaction identity, its top
 * Via branch and CSeq number (§17.2.3). A process that finds the stored call by leg A (Call-ID and
 * From tag) can then tell from the tag alone whether an INVITE it received is a retransmission of
 * the one that created the call — a load balancer sent the copy to another process — or a
 * different request, without one more field per stored call (docs/b2bua.md, "Multi-process").
 * Without an identity (no branch) the tag is random only and matches no INVITE.
 */
export function inviteTag(invite: InviteKey | undefined): string {
  return invite ? `${newTag()}${digest(invite)}` : newTag()
}

/** True when `tag` is an {@link inviteTag} made for this very INVITE transaction. */
export function isTagOfInvite(tag: string, invite: InviteKey | undefined): boolean {
  return invite !== undefined && tag.length > DIGEST_HEX && tag.endsWith(digest(invite))
}
