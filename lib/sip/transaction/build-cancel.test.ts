import assert from 'node:assert/strict'
import { getParam } from '../message/headers/params.ts'
import { parse } from '../message/parse.ts'
import { serialize } from '../message/serialize.ts'
import { buildCancel } from './build-cancel.ts'
import { request } from './spec-helpers.ts'
import { serverTransactionKey } from './transaction-key.ts'

describe('buildCancel (RFC 3261 §9.1)', () => {
  const invite = request('INVITE', { cseq: 7 })
  const cancel = buildCancel(invite)

  it('copies Request-URI, Call-ID, From and To (with tags) and the CSeq number, method CANCEL', () => {
    assert.equal(cancel.method, 'CANCEL')
    assert.equal(cancel.uri, invite.uri)
    assert.equal(cancel.header('call-id'), invite.header('call-id'))
    assert.equal(cancel.header('from'), invite.header('from'))
    assert.equal(cancel.header('to'), invite.header('to'))
    assert.deepEqual(cancel.cseq, { seq: 7, method: 'CANCEL' })
  })

  it('has a single Via equal to the top Via of the INVITE, and its Route headers', () => {
    assert.equal(cancel.headerValues('via').length, 1)
    assert.equal(getParam(cancel.topVia!.params, 'branch'), getParam(invite.topVia!.params, 'branch'))
    assert.deepEqual(cancel.headerValues('route'), invite.headerValues('route'))
  })

  it('matches the INVITE server transaction at the far end once serialised and parsed (§9.2)', () => {
    const received = parse(serialize(cancel))
    assert.equal(received.kind, 'request')
    if (received.kind !== 'request') return
    assert.equal(serverTransactionKey(received, 'INVITE'), serverTransactionKey(invite))
  })
})
