import assert from 'node:assert/strict'
import { isLegalTransition, transition } from './transaction-state.ts'

describe('transition()', () => {
  const legal: [
    Parameters<typeof transition>[0],
    Parameters<typeof transition>[1],
    Parameters<typeof transition>[2],
  ][] = [
    ['invite-client', 'Calling', 'Proceeding'],
    ['invite-client', 'Proceeding', 'Accepted'],
    ['invite-client', 'Calling', 'Completed'],
    ['invite-server', 'Proceeding', 'Accepted'],
    ['invite-server', 'Completed', 'Confirmed'],
    ['non-invite-server', 'Trying', 'Completed'],
    ['non-invite-client', 'Proceeding', 'Completed'],
  ]
  for (const [kind, from, to] of legal) {
    it(`allows ${kind} to move ${from} → ${to}`, () => assert.equal(transition(kind, from, to), to))
  }
  const illegal: typeof legal = [
    ['invite-client', 'Completed', 'Accepted'],
    ['invite-client', 'Terminated', 'Calling'],
    ['non-invite-client', 'Trying', 'Accepted'],
    ['invite-server', 'Accepted', 'Confirmed'],
    ['invite-server', 'Confirmed', 'Completed'],
    ['non-invite-server', 'Completed', 'Proceeding'],
  ]
  for (const [kind, from, to] of illegal) {
    it(`throws SBC_ERR_TXN_ILLEGAL_TRANSITION for ${kind} ${from} → ${to}`, () => {
      assert.equal(isLegalTransition(kind, from, to), false)
      assert.throws(() => transition(kind, from, to), { code: 'SBC_ERR_TXN_ILLEGAL_TRANSITION' })
    })
  }
})
