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

describe('transactionStateChannel', () => {
  it('publishes each move of a machine to subscribers', async () => {
    const { subscribe, unsubscribe } = await import('node:diagnostics_channel')
    const { NonInviteClientTransaction } = await import('./non-invite-client.ts')
    const { recordingContext, request, response } = await import('./spec-helpers.ts')
    const events: string[] = []
    const listener = (e: unknown) => {
      const { from, to } = e as { from: string; to: string }
      events.push(`${from}→${to}`)
    }
    subscribe('sbc:sip:transaction-state', listener)
    try {
      const req = request('OPTIONS')
      const tx = new NonInviteClientTransaction(req, recordingContext(true), { onResponse() {} }, () => {})
      tx.start()
      tx.receiveResponse(response(req, 100))
      tx.receiveResponse(response(req, 200))
    } finally {
      unsubscribe('sbc:sip:transaction-state', listener)
    }
    assert.deepEqual(events, ['Trying→Proceeding', 'Proceeding→Completed', 'Completed→Terminated'])
  })
})
