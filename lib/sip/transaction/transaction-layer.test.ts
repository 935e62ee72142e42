import assert from 'node:assert/strict'
import { createResponse } from '../message/create-response.ts'
import type { SipMessage, SipRequest, SipResponse } from '../message/message.ts'
import type { Destination } from '../transport/transport.ts'
import { request, response } from './spec-helpers.ts'
import { ManualClock } from './timers.ts'
import { type ServerTransaction, TransactionLayer } from './transaction-layer.ts'

const udp: Destination = { transport: 'udp', address: '192.0.2.1', port: 5060 }

function setup(options: { cancelHook?: boolean } = {}) {
  const clock = new ManualClock()
  const sent: SipMessage[] = []
  const requests: [SipRequest, ServerTransaction][] = []
  const acks: SipRequest[] = []
  const stray: SipResponse[] = []
  const cancels: [SipRequest, ServerTransaction | undefined][] = []
  const layer = new TransactionLayer({
    clock,
    send: (m, _destination, done) => {
      sent.push(m)
      queueMicrotask(() => done())
    },
    delegate: {
      onRequest: (r, tx) => requests.push([r, tx]),
      onAck: (a) => acks.push(a),
      onStrayResponse: (r) => stray.push(r),
      ...(options.cancelHook ? { onCancel: (c, _tx, invite) => cancels.push([c, invite]) } : {}),
    },
  })
  const statuses = () => sent.map((m) => (m.kind === 'response' ? m.status : m.method))
  return { clock, layer, sent, requests, acks, stray, cancels, statuses }
}

describe('TransactionLayer', () => {
  describe('server transaction matching (RFC 3261 §17.2.3)', () => {
    it('creates one transaction per branch and absorbs a retransmission with the same branch', () => {
      const t = setup()
      t.layer.receiveRequest(request('OPTIONS'), udp)
      t.layer.receiveRequest(request('OPTIONS'), udp)
      assert.equal(t.requests.length, 1)
      assert.equal(t.layer.counters.requestRetransmissionsAbsorbed, 1)
    })

    it('treats the same branch with another method as another transaction', () => {
      const t = setup()
      t.layer.receiveRequest(request('OPTIONS'), udp)
      t.layer.receiveRequest(request('INFO'), udp)
      assert.equal(t.requests.length, 2)
    })

    it('sends 100 Trying for a new INVITE at once', () => {
      const t = setup()
      t.layer.receiveRequest(request('INVITE'), udp)
      assert.deepEqual(t.statuses(), [100])
    })

    it('matches the ACK of a non-2xx final to the INVITE transaction (same branch)', () => {
      const t = setup()
      t.layer.receiveRequest(request('INVITE'), udp)
      const [invite, tx] = t.requests[0]!
      tx.respond(createResponse(invite, 486, { toTag: 'x' }))
      t.layer.receiveRequest(request('ACK', { toTag: 'x' }), udp)
      assert.equal(tx.state, 'Confirmed')
      assert.equal(t.acks.length, 0)
    })

    it('passes the ACK of a 2xx (new branch) to the TU and stops the 2xx retransmissions', () => {
      const t = setup()
      t.layer.receiveRequest(request('INVITE'), udp)
      const [invite, tx] = t.requests[0]!
      tx.respond(createResponse(invite, 200, { toTag: 'x' }))
      t.clock.advance(500)
      t.layer.receiveRequest(request('ACK', { branch: 'z9hG4bKack', toTag: 'x' }), udp)
      t.clock.advance(10_000)
      assert.equal(t.acks.length, 1)
      assert.deepEqual(t.statuses(), [100, 200, 200])
    })
  })

  describe('RFC 2543 fallback matching (no z9hG4bK branch)', () => {
    it('matches a retransmitted INVITE by Request-URI, From tag, Call-ID, CSeq and top Via', () => {
      const t = setup()
      t.layer.receiveRequest(request('INVITE', { branch: '' }), udp)
      t.layer.receiveRequest(request('INVITE', { branch: '' }), udp)
      assert.equal(t.requests.length, 1)
      assert.equal(t.layer.counters.requestRetransmissionsAbsorbed, 1)
    })

    it('tells a new CSeq apart', () => {
      const t = setup()
      t.layer.receiveRequest(request('INVITE', { branch: '' }), udp)
      t.layer.receiveRequest(request('INVITE', { branch: '', cseq: 2 }), udp)
      assert.equal(t.requests.length, 2)
    })

    it('matches an ACK only if its To tag is the one the transaction sent', () => {
      const t = setup()
      t.layer.receiveRequest(request('INVITE', { branch: '' }), udp)
      const [invite, tx] = t.requests[0]!
      tx.respond(createResponse(invite, 486, { toTag: 'ours' }))
      t.layer.receiveRequest(request('ACK', { branch: '', toTag: 'other' }), udp)
      assert.equal(tx.state, 'Completed')
      assert.equal(t.acks.length, 1)
      t.layer.receiveRequest(request('ACK', { branch: '', toTag: 'ours' }), udp)
      assert.equal(tx.state, 'Confirmed')
    })
  })

  describe('CANCEL (RFC 3261 §9.2)', () => {
    it('answers 200 to the CANCEL and 487 to a pending INVITE', () => {
      const t = setup()
      t.layer.receiveRequest(request('INVITE'), udp)
      const [, inviteTx] = t.requests[0]!
      t.layer.receiveRequest(request('CANCEL'), udp)
      assert.deepEqual(t.statuses(), [100, 200, 487])
      assert.equal(inviteTx.state, 'Completed')
      const cancel200 = t.sent[1] as SipResponse
      const invite487 = t.sent[2] as SipResponse
      assert.equal(cancel200.cseq?.method, 'CANCEL')
      assert.equal(invite487.cseq?.method, 'INVITE')
    })

    it('answers 481 to a CANCEL that matches no transaction', () => {
      const t = setup()
      t.layer.receiveRequest(request('CANCEL'), udp)
      assert.deepEqual(t.statuses(), [481])
    })

    it('answers only 200 when the INVITE already has a final response', () => {
      const t = setup()
      t.layer.receiveRequest(request('INVITE'), udp)
      const [invite, tx] = t.requests[0]!
      tx.respond(createResponse(invite, 200, { toTag: 'x' }))
      t.layer.receiveRequest(request('CANCEL'), udp)
      assert.deepEqual(t.statuses(), [100, 200, 200])
    })

    it('hands CANCEL and the matched INVITE transaction to the TU when it asks to', () => {
      const t = setup({ cancelHook: true })
      t.layer.receiveRequest(request('INVITE'), udp)
      t.layer.receiveRequest(request('CANCEL'), udp)
      assert.equal(t.cancels.length, 1)
      assert.equal(t.cancels[0]![1], t.requests[0]![1])
    })
  })

  describe('client transaction matching (RFC 3261 §17.1.3)', () => {
    it('matches responses by branch and CSeq method, and reports others as stray', () => {
      const t = setup()
      const seen: number[] = []
      const req = request('OPTIONS', { branch: 'z9hG4bKclient' })
      t.layer.sendRequest(req, udp, { onResponse: (r) => seen.push(r.status) })
      t.layer.receiveResponse(response(req, 200))
      t.layer.receiveResponse(response(request('OPTIONS', { branch: 'z9hG4bKother' }), 200))
      t.layer.receiveResponse(response(request('INFO', { branch: 'z9hG4bKclient' }), 200))
      assert.deepEqual(seen, [200])
      assert.equal(t.stray.length, 2)
    })

    it('refuses a request without an RFC 3261 branch', () => {
      const t = setup()
      assert.throws(() => t.layer.sendRequest(request('OPTIONS', { branch: '' }), udp, { onResponse() {} }), {
        code: 'SBC_ERR_TXN_BAD_MESSAGE',
      })
    })

    it('forgets a transaction once it terminates', () => {
      const t = setup()
      const req = request('OPTIONS', { branch: 'z9hG4bKgone' })
      t.layer.sendRequest(req, { ...udp, transport: 'tcp' }, { onResponse() {} })
      t.layer.receiveResponse(response(req, 200))
      assert.equal(t.layer.clientCount, 0)
    })
  })
})
