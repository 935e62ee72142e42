import assert from 'node:assert/strict'
import { createResponse } from '../message/create-response.ts'
import type { SipTransactionError } from './errors.ts'
import { InviteServerTransaction } from './invite-server.ts'
import { recordingContext, request, sentSummary, settle } from './spec-helpers.ts'

function setup(reliable = false, tryingDelay = 0) {
  const ctx = recordingContext(reliable)
  const errors: SipTransactionError[] = []
  const invite = request('INVITE')
  let accepted = 0
  const tx = new InviteServerTransaction(
    invite,
    ctx,
    {
      onTimeout: (e) => errors.push(e),
      onTransportError: (e) => errors.push(e),
      onAccepted: () => accepted++,
    },
    () => {},
  )
  tx.scheduleTrying(createResponse(invite, 100), tryingDelay)
  const reply = (status: number) => tx.respond(createResponse(invite, status, { toTag: 'uas' }))
  return { ctx, tx, invite, errors, reply, accepted: () => accepted }
}

describe('INVITE server transaction (RFC 3261 §17.2.1, RFC 6026 §7.1)', () => {
  describe('when created', () => {
    it('MUST send a 100 Trying at once when configured without delay', () => {
      const { ctx, tx } = setup()
      assert.deepEqual(sentSummary(ctx), [100])
      assert.equal(tx.state, 'Proceeding')
    })

    it('MAY skip the 100 Trying when the TU answers within the delay', () => {
      const { ctx, reply } = setup(false, 200)
      ctx.clock.advance(150)
      reply(180)
      ctx.clock.advance(1000)
      assert.deepEqual(sentSummary(ctx), [180])
    })

    it('MUST send the 100 Trying once the delay passes without a TU response', () => {
      const { ctx } = setup(false, 200)
      ctx.clock.advance(200)
      assert.deepEqual(sentSummary(ctx), [100])
    })
  })

  describe('in Proceeding state, upon a retransmitted INVITE', () => {
    it('MUST re-send the most recent provisional response', () => {
      const { ctx, tx, invite, reply } = setup()
      reply(180)
      tx.receiveRequest(invite)
      assert.deepEqual(sentSummary(ctx), [100, 180, 180])
      assert.equal(tx.absorbed, 1)
    })
  })

  describe('in Proceeding state, upon a 2xx from the TU', () => {
    it('releases the request and the response, keeping the To tag (CANCEL repeats it)', () => {
      const { tx, reply } = setup()
      reply(200)
      assert.equal(tx.request, undefined)
      assert.equal(tx.lastResponse, undefined)
      assert.equal(tx.lastToTag, 'uas')
    })

    it('MUST send it and transition to Accepted', () => {
      const { ctx, tx, reply, accepted } = setup()
      reply(200)
      assert.equal(tx.state, 'Accepted')
      assert.deepEqual(sentSummary(ctx), [100, 200])
      assert.equal(accepted(), 1)
    })
  })

  describe('in Accepted state', () => {
    it('MUST absorb INVITE retransmissions without answering them', () => {
      const { ctx, tx, invite, reply } = setup(true)
      reply(200)
      tx.receiveRequest(invite)
      assert.deepEqual(sentSummary(ctx), [100, 200])
    })

    it('MUST pass further 2xx responses from the TU to the transport', () => {
      const { ctx, reply } = setup(true)
      reply(200)
      reply(200)
      assert.deepEqual(sentSummary(ctx), [100, 200, 200])
    })

    it('retransmits the 2xx at T1, 2*T1, ... up to T2 until the ACK arrives (§13.3.1.4)', () => {
      const { ctx, tx, reply } = setup()
      reply(200)
      ctx.clock.advance(7_500)
      tx.acknowledge2xx()
      ctx.clock.advance(10_000)
      assert.deepEqual(
        ctx.sent.map((s) => s.at),
        [0, 0, 500, 1500, 3500, 7500],
      )
    })

    it('upon Timer L (64*T1), MUST transition to Terminated and report a missing ACK', () => {
      const { ctx, tx, reply, errors } = setup(true)
      reply(200)
      ctx.clock.advance(32_000)
      assert.equal(tx.state, 'Terminated')
      assert.equal(errors[0]?.code, 'SBC_ERR_TXN_TIMEOUT')
    })
  })

  for (const status of [300, 404, 486, 500, 603]) {
    describe(`in Proceeding state, upon a ${status} from the TU`, () => {
      it('MUST transition to Completed and retransmit it on Timer G, doubling up to T2', () => {
        const { ctx, tx, reply } = setup()
        reply(status)
        assert.equal(tx.state, 'Completed')
        ctx.clock.advance(15_500)
        assert.deepEqual(
          ctx.sent.map((s) => s.at),
          [0, 0, 500, 1500, 3500, 7500, 11500, 15500],
        )
      })
    })
  }

  describe('in Completed state', () => {
    it('upon a retransmitted INVITE, SHOULD re-send the final response', () => {
      const { ctx, tx, invite, reply } = setup(true)
      reply(486)
      tx.receiveRequest(invite)
      assert.deepEqual(sentSummary(ctx), [100, 486, 486])
    })

    it('upon an ACK, MUST transition to Confirmed and stop retransmitting', () => {
      const { ctx, tx, reply } = setup()
      reply(486)
      tx.receiveAck(request('ACK'))
      assert.equal(tx.state, 'Confirmed')
      ctx.clock.advance(4_000)
      assert.deepEqual(sentSummary(ctx), [100, 486])
    })

    it('upon Timer H (64*T1) without an ACK, MUST transition to Terminated and inform the TU', () => {
      const { ctx, tx, reply, errors } = setup()
      reply(486)
      ctx.clock.advance(32_000)
      assert.equal(tx.state, 'Terminated')
      assert.equal(errors[0]?.code, 'SBC_ERR_TXN_TIMEOUT')
    })
  })

  describe('in Confirmed state', () => {
    it('MUST absorb further ACKs and, upon Timer I (T4), transition to Terminated', () => {
      const { ctx, tx, reply } = setup()
      reply(486)
      tx.receiveAck(request('ACK'))
      tx.receiveAck(request('ACK'))
      assert.equal(tx.absorbed, 1)
      ctx.clock.advance(5_000)
      assert.equal(tx.state, 'Terminated')
    })

    it('MUST transition to Terminated at once on a reliable transport (Timer I is zero)', () => {
      const { tx, reply } = setup(true)
      reply(486)
      tx.receiveAck(request('ACK'))
      assert.equal(tx.state, 'Terminated')
    })
  })

  describe('upon a transport error', () => {
    it('SHOULD inform the TU and transition to Terminated', async () => {
      const { ctx, tx, reply, errors } = setup()
      ctx.failSends = true
      reply(180)
      await settle()
      assert.equal(tx.state, 'Terminated')
      assert.equal(errors[0]?.code, 'SBC_ERR_TXN_TRANSPORT')
    })
  })
})
