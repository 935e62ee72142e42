import assert from 'node:assert/strict'
import type { SipRequest, SipResponse } from '../message/message.ts'
import type { SipTransactionError } from './errors.ts'
import { InviteClientTransaction } from './invite-client.ts'
import {
  type RecordingContext,
  recordingContext,
  request,
  response,
  sentSummary,
  settle,
} from './spec-helpers.ts'

function setup(reliable = false) {
  const ctx = recordingContext(reliable)
  const seen: SipResponse[] = []
  const errors: SipTransactionError[] = []
  let terminated = 0
  const invite = request('INVITE')
  const tx = new InviteClientTransaction(
    invite,
    ctx,
    {
      onResponse: (r) => seen.push(r),
      onTimeout: (e) => errors.push(e),
      onTransportError: (e) => errors.push(e),
    },
    () => terminated++,
  )
  tx.start()
  return { ctx, tx, invite, seen, errors, terminated: () => terminated }
}

const at = (ctx: RecordingContext) => ctx.sent.map((s) => s.at)

describe('INVITE client transaction (RFC 3261 §17.1.1, RFC 6026 §7.2)', () => {
  describe('in Calling state over an unreliable transport', () => {
    it('MUST retransmit the INVITE on Timer A, doubling the interval each time', () => {
      const { ctx } = setup()
      ctx.clock.advance(16_000)
      assert.deepEqual(at(ctx), [0, 500, 1500, 3500, 7500, 15500])
    })

    it('upon Timer B, MUST transition to Terminated and inform the TU of the timeout', () => {
      const { ctx, tx, errors, terminated } = setup()
      ctx.clock.advance(32_000)
      assert.equal(tx.state, 'Terminated')
      assert.equal(errors[0]?.code, 'SBC_ERR_TXN_TIMEOUT')
      assert.equal(terminated(), 1)
      assert.equal(ctx.clock.pending, 0)
    })
  })

  describe('in Calling state over a reliable transport', () => {
    it('MUST NOT retransmit the INVITE', () => {
      const { ctx } = setup(true)
      ctx.clock.advance(31_000)
      assert.deepEqual(sentSummary(ctx), ['INVITE'])
    })
  })

  describe('in Calling state, upon a 1xx', () => {
    it('MUST transition to Proceeding, pass it to the TU and stop retransmitting', () => {
      const { ctx, tx, invite, seen } = setup()
      tx.receiveResponse(response(invite, 180))
      assert.equal(tx.state, 'Proceeding')
      assert.equal(seen[0]?.status, 180)
      ctx.clock.advance(60_000)
      assert.deepEqual(sentSummary(ctx), ['INVITE'])
      assert.equal(tx.state, 'Proceeding')
    })
  })

  for (const from of ['Calling', 'Proceeding'] as const) {
    describe(`in ${from} state, upon a 2xx`, () => {
      it('MUST transition to Accepted and pass the 2xx to the TU', () => {
        const { tx, invite, seen } = setup()
        if (from === 'Proceeding') tx.receiveResponse(response(invite, 183))
        tx.receiveResponse(response(invite, 200))
        assert.equal(tx.state, 'Accepted')
        assert.equal(seen.at(-1)?.status, 200)
      })
    })
  }

  describe('in Accepted state', () => {
    it('MUST pass retransmitted 2xx responses to the TU and MUST NOT send an ACK itself', () => {
      const { ctx, tx, invite, seen } = setup()
      tx.receiveResponse(response(invite, 200))
      tx.receiveResponse(response(invite, 200))
      assert.deepEqual(
        seen.map((r) => r.status),
        [200, 200],
      )
      assert.deepEqual(sentSummary(ctx), ['INVITE'])
    })

    it('keeps no request, and hands later 2xx retransmissions to the user given by retarget', () => {
      const { tx, invite, seen } = setup()
      tx.receiveResponse(response(invite, 200))
      assert.equal(tx.request, undefined)
      const later: number[] = []
      tx.retarget({ onResponse: (r) => later.push(r.status) })
      tx.receiveResponse(response(invite, 200))
      assert.deepEqual(later, [200])
      assert.equal(seen.length, 1)
    })

    it('upon Timer M (64*T1), MUST transition to Terminated', () => {
      const { ctx, tx, invite, terminated } = setup()
      tx.receiveResponse(response(invite, 200))
      ctx.clock.advance(31_999)
      assert.equal(tx.state, 'Accepted')
      ctx.clock.advance(1)
      assert.equal(tx.state, 'Terminated')
      assert.equal(terminated(), 1)
    })
  })

  for (const status of [300, 404, 486, 503, 603]) {
    describe(`in Proceeding state, upon a ${status}`, () => {
      it('MUST transition to Completed, pass it up and send an ACK built per §17.1.1.3', () => {
        const { ctx, tx, invite, seen } = setup()
        tx.receiveResponse(response(invite, 180))
        tx.receiveResponse(response(invite, status))
        assert.equal(tx.state, 'Completed')
        assert.equal(seen.at(-1)?.status, status)
        const ack = ctx.sent.at(-1)?.message as SipRequest
        assert.equal(ack.method, 'ACK')
        assert.equal(ack.uri, invite.uri)
        assert.deepEqual(ack.headerValues('via'), [invite.headerValues('via')[0]])
        assert.equal(ack.toTag, 'totag')
        assert.equal(ack.header('cseq'), '1 ACK')
        assert.equal(ack.header('call-id'), invite.header('call-id'))
        assert.equal(ack.header('from'), invite.header('from'))
        assert.deepEqual(ack.headerValues('route'), invite.headerValues('route'))
      })
    })
  }

  describe('in Completed state', () => {
    it('upon a retransmitted final response, MUST re-send the ACK and MUST NOT pass it up', () => {
      const { ctx, tx, invite, seen } = setup()
      tx.receiveResponse(response(invite, 486))
      tx.receiveResponse(response(invite, 486))
      assert.deepEqual(sentSummary(ctx), ['INVITE', 'ACK', 'ACK'])
      assert.equal(seen.length, 1)
    })

    it('upon Timer D (32 s on unreliable transports), MUST transition to Terminated', () => {
      const { ctx, tx, invite } = setup()
      tx.receiveResponse(response(invite, 486))
      ctx.clock.advance(31_999)
      assert.equal(tx.state, 'Completed')
      ctx.clock.advance(1)
      assert.equal(tx.state, 'Terminated')
    })

    it('MUST transition to Terminated at once on a reliable transport (Timer D is zero)', () => {
      const { tx, invite } = setup(true)
      tx.receiveResponse(response(invite, 486))
      assert.equal(tx.state, 'Terminated')
    })
  })

  describe('upon a transport error', () => {
    it('MUST transition to Terminated and inform the TU', async () => {
      const ctx = recordingContext()
      ctx.failSends = true
      const errors: SipTransactionError[] = []
      const tx = new InviteClientTransaction(
        request(),
        ctx,
        { onResponse() {}, onTransportError: (e) => errors.push(e) },
        () => {},
      )
      tx.start()
      await settle()
      assert.equal(tx.state, 'Terminated')
      assert.equal(errors[0]?.code, 'SBC_ERR_TXN_TRANSPORT')
    })
  })
})
