import assert from 'node:assert/strict'
import { createResponse } from '../message/create-response.ts'
import { NonInviteServerTransaction } from './non-invite-server.ts'
import { recordingContext, request, sentSummary } from './spec-helpers.ts'

function setup(reliable = false) {
  const ctx = recordingContext(reliable)
  const req = request('OPTIONS')
  const tx = new NonInviteServerTransaction(req, ctx, {}, () => {})
  const reply = (status: number) => tx.respond(createResponse(req, status, { toTag: 'uas' }))
  return { ctx, tx, req, reply }
}

describe('non-INVITE server transaction (RFC 3261 §17.2.2)', () => {
  describe('in Trying state', () => {
    it('MUST discard request retransmissions', () => {
      const { ctx, tx, req } = setup()
      tx.receiveRequest(req)
      assert.deepEqual(sentSummary(ctx), [])
      assert.equal(tx.absorbed, 1)
    })

    it('upon a 1xx from the TU, MUST send it and transition to Proceeding', () => {
      const { ctx, tx, reply } = setup()
      reply(100)
      assert.equal(tx.state, 'Proceeding')
      assert.deepEqual(sentSummary(ctx), [100])
    })
  })

  describe('in Proceeding state, upon a retransmitted request', () => {
    it('MUST re-send the most recent provisional response', () => {
      const { ctx, tx, req, reply } = setup()
      reply(100)
      tx.receiveRequest(req)
      assert.deepEqual(sentSummary(ctx), [100, 100])
    })
  })

  for (const status of [200, 202, 404, 500]) {
    describe(`in Trying state, upon a ${status} from the TU`, () => {
      it('MUST send it and transition to Completed', () => {
        const { ctx, tx, reply } = setup()
        reply(status)
        assert.equal(tx.state, 'Completed')
        assert.deepEqual(sentSummary(ctx), [status])
      })
    })
  }

  describe('in Completed state', () => {
    it('keeps only the response: the request is released, a retransmission is still answered', () => {
      const { ctx, tx, req, reply } = setup()
      reply(200)
      assert.equal(tx.request, undefined)
      tx.receiveRequest(req)
      assert.deepEqual(sentSummary(ctx), [200, 200])
    })

    it('MUST re-send the final response on every request retransmission', () => {
      const { ctx, tx, req, reply } = setup()
      reply(200)
      tx.receiveRequest(req)
      tx.receiveRequest(req)
      assert.deepEqual(sentSummary(ctx), [200, 200, 200])
    })

    it('MUST discard further final responses from the TU', () => {
      const { ctx, reply } = setup()
      reply(200)
      reply(500)
      assert.deepEqual(sentSummary(ctx), [200])
    })

    it('upon Timer J (64*T1 on unreliable transports), MUST transition to Terminated', () => {
      const { ctx, tx, reply } = setup()
      reply(200)
      ctx.clock.advance(31_999)
      assert.equal(tx.state, 'Completed')
      ctx.clock.advance(1)
      assert.equal(tx.state, 'Terminated')
    })

    it('MUST transition to Terminated at once on a reliable transport (Timer J is zero)', () => {
      const { tx, reply } = setup(true)
      reply(200)
      assert.equal(tx.state, 'Terminated')
    })
  })
})
