import assert from 'node:assert/strict'
import type { SipResponse } from '../message/message.ts'
import type { SipTransactionError } from './errors.ts'
import { NonInviteClientTransaction } from './non-invite-client.ts'
import { recordingContext, request, response, sentSummary } from './spec-helpers.ts'

function setup(reliable = false) {
  const ctx = recordingContext(reliable)
  const seen: SipResponse[] = []
  const errors: SipTransactionError[] = []
  const req = request('OPTIONS')
  const tx = new NonInviteClientTransaction(
    req,
    ctx,
    { onResponse: (r) => seen.push(r), onTimeout: (e) => errors.push(e) },
    () => {},
  )
  tx.start()
  return { ctx, tx, req, seen, errors }
}

describe('non-INVITE client transaction (RFC 3261 §17.1.2)', () => {
  describe('in Trying state over an unreliable transport', () => {
    it('MUST retransmit on Timer E with intervals doubling up to T2', () => {
      const { ctx } = setup()
      ctx.clock.advance(15_500)
      assert.deepEqual(
        ctx.sent.map((s) => s.at),
        [0, 500, 1500, 3500, 7500, 11500, 15500],
      )
    })

    it('upon Timer F (64*T1), MUST transition to Terminated and inform the TU', () => {
      const { ctx, tx, errors } = setup()
      ctx.clock.advance(32_000)
      assert.equal(tx.state, 'Terminated')
      assert.equal(errors[0]?.code, 'SBC_ERR_TXN_TIMEOUT')
    })
  })

  describe('in Trying state over a reliable transport', () => {
    it('MUST NOT retransmit', () => {
      const { ctx } = setup(true)
      ctx.clock.advance(31_000)
      assert.deepEqual(sentSummary(ctx), ['OPTIONS'])
    })
  })

  describe('in Trying state, upon a 1xx', () => {
    it('MUST transition to Proceeding and retransmit every T2 from then on', () => {
      const { ctx, tx, req, seen } = setup()
      ctx.clock.advance(600)
      tx.receiveResponse(response(req, 100))
      assert.equal(tx.state, 'Proceeding')
      assert.equal(seen[0]?.status, 100)
      ctx.clock.advance(900) // E fires at 1500 (interval 1000), then every T2
      ctx.clock.advance(8000)
      assert.deepEqual(
        ctx.sent.map((s) => s.at),
        [0, 500, 1500, 5500, 9500],
      )
    })
  })

  for (const status of [200, 404, 500, 603]) {
    describe(`in Proceeding state, upon a ${status}`, () => {
      it('MUST pass it to the TU and transition to Completed', () => {
        const { tx, req, seen } = setup()
        tx.receiveResponse(response(req, 180))
        tx.receiveResponse(response(req, status))
        assert.equal(tx.state, 'Completed')
        assert.equal(seen.at(-1)?.status, status)
      })
    })
  }

  describe('in Completed state', () => {
    it('MUST absorb response retransmissions and stop retransmitting the request', () => {
      const { ctx, tx, req, seen } = setup()
      tx.receiveResponse(response(req, 200))
      tx.receiveResponse(response(req, 200))
      ctx.clock.advance(4_000)
      assert.equal(seen.length, 1)
      assert.deepEqual(sentSummary(ctx), ['OPTIONS'])
    })

    it('upon Timer K (T4), MUST transition to Terminated', () => {
      const { ctx, tx, req } = setup()
      tx.receiveResponse(response(req, 200))
      ctx.clock.advance(4_999)
      assert.equal(tx.state, 'Completed')
      ctx.clock.advance(1)
      assert.equal(tx.state, 'Terminated')
    })

    it('MUST transition to Terminated at once on a reliable transport (Timer K is zero)', () => {
      const { tx, req } = setup(true)
      tx.receiveResponse(response(req, 200))
      assert.equal(tx.state, 'Terminated')
    })
  })
})
