import assert from 'node:assert/strict'
import type { SipTransactionError } from './errors.ts'
import { SipStack } from './sip-stack.ts'
import { request } from './spec-helpers.ts'

// The transport reports a failed send through a callback, not a rejected promise: a failure it
// knows of at once (here: no listener for the destination's protocol) must still reach the
// transaction user on a later tick, as RFC 3261 §17.1.4 asks, and never throw out of the send.
describe('SipStack send failures', () => {
  let stack: SipStack
  beforeEach(async () => {
    stack = await SipStack.start({
      listen: [{ protocol: 'udp', address: '127.0.0.1', port: 0 }],
      delegate: { onRequest() {} },
    })
  })
  afterEach(() => stack.close())

  it('a client transaction whose destination has no transport terminates and tells its user, on a later tick', async () => {
    const errors: SipTransactionError[] = []
    const tx = stack.layer.sendRequest(
      request('INVITE'),
      { transport: 'tcp', address: '127.0.0.1', port: 9 },
      { onResponse() {}, onTransportError: (e) => errors.push(e) },
    )
    assert.equal(errors.length, 0)
    assert.equal(tx.state, 'Calling')
    while (errors.length === 0) await new Promise((r) => setImmediate(r))
    assert.equal(errors[0]?.code, 'SBC_ERR_TXN_TRANSPORT')
    assert.equal(
      (errors[0]?.cause as { code?: string } | undefined)?.code,
      'SBC_ERR_SIP_TRANSPORT_SEND_FAILED',
    )
    assert.equal(tx.state, 'Terminated')
    assert.equal(stack.layer.clientCount, 0)
    assert.equal(stack.endpoint.counters.sendErrors, 1)
  })
})
