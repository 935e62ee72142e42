import assert from 'node:assert/strict'
import { inviteCSeqOfTag, inviteTag, isTagOfInvite } from './invite-tag.ts'

describe('inviteTag', () => {
  const invite = { branch: 'z9hG4bK-524287-1-0', cseq: 1 }

  it('names the INVITE it was made for, and is random otherwise', () => {
    const a = inviteTag(invite)
    const b = inviteTag(invite)
    assert.notEqual(a, b)
    assert.ok(isTagOfInvite(a, invite))
    assert.ok(isTagOfInvite(b, { ...invite }))
    assert.match(a, /^[0-9a-f]{24}1$/)
  })

  it('does not name a merged request (other branch) nor another CSeq', () => {
    const tag = inviteTag(invite)
    assert.equal(isTagOfInvite(tag, { branch: 'z9hG4bK-524287-1-1', cseq: 1 }), false)
    assert.equal(isTagOfInvite(tag, { branch: invite.branch, cseq: 2 }), false)
  })

  it('a plain random tag (another version, or no branch) names no INVITE', () => {
    assert.equal(isTagOfInvite(inviteTag(undefined), invite), false)
    assert.equal(isTagOfInvite('0123456789abcdef', invite), false)
    assert.equal(isTagOfInvite(inviteTag(invite), undefined), false)
  })

  it('carries the CSeq number of its INVITE (the merged-request check), none when made without one', () => {
    assert.equal(inviteCSeqOfTag(inviteTag(invite)), 1)
    assert.equal(inviteCSeqOfTag(inviteTag({ ...invite, cseq: 2 ** 31 - 1 })), 2 ** 31 - 1)
    assert.equal(inviteCSeqOfTag(inviteTag(undefined)), undefined)
    // A tag made before the CSeq was part of it: 64 random bits and the digest only.
    assert.equal(inviteCSeqOfTag(inviteTag(invite).slice(0, 24)), undefined)
    assert.ok(isTagOfInvite(inviteTag(invite).slice(0, 24), invite))
  })
})
