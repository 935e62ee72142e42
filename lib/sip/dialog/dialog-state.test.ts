import assert from 'node:assert/strict'
import { type DialogLeg, type DialogState, dialogStateProblem, isDialogState } from './dialog-state.ts'

const leg = (callId: string, state: DialogLeg['state'] = 'early'): DialogLeg => ({
  callId,
  localTag: 'l1',
  remoteTag: 'r1',
  localCSeq: 1,
  remoteCSeq: 0,
  localUri: 'sip:sbc@example.com',
  remoteUri: 'sip:peer@example.net',
  remoteTarget: 'sip:peer@192.0.2.1:5060',
  routeSet: [],
  secure: false,
  peer: { transport: 'udp', address: '192.0.2.1', port: 5060 },
  ipGroup: 'pbx',
  state,
})

const call = (): DialogState => ({
  id: 'call1',
  version: 0,
  state: 'early',
  createdAt: 1_790_000_000_000,
  a: leg('a@x'),
  b: leg('b@y'),
  admission: { sourceGroup: 'webex', destGroup: 'pbx', counters: ['webex'] },
  cdr: {},
})

describe('DialogState', () => {
  it('accepts a minimal early call and survives a JSON round trip', () => {
    assert.equal(isDialogState(call()), true)
    assert.deepEqual(JSON.parse(JSON.stringify(call())), call())
  })

  it('accepts media references and CDR fields', () => {
    const c = {
      ...call(),
      media: { pod: 'm1', ngCallId: 'n', fromTag: 'f', sessionA: 's1' },
      cdr: { endedBy: 'b' as const, endReason: 'bye', sipCode: 200 },
    }
    assert.equal(dialogStateProblem(c), undefined)
  })

  const bad: Array<[string, (c: DialogState) => unknown]> = [
    ['an unknown property', (c) => ({ ...c, extra: 1 })],
    ['a missing leg', ({ b: _b, ...rest }) => rest],
    ['a port out of range', (c) => ({ ...c, a: { ...c.a, peer: { ...c.a.peer, port: 70000 } } })],
    ['an unknown transport', (c) => ({ ...c, b: { ...c.b, peer: { ...c.b.peer, transport: 'sctp' } } })],
    ['an id that cannot be a Redis hash tag', (c) => ({ ...c, id: 'a}b' })],
    ['an unknown leg state', (c) => ({ ...c, a: { ...c.a, state: 'dead' } })],
    ['a negative CSeq', (c) => ({ ...c, b: { ...c.b, localCSeq: -1 } })],
  ]
  for (const [what, mutate] of bad)
    it(`rejects ${what}`, () => {
      const v = mutate(call())
      assert.equal(isDialogState(v), false)
      assert.ok(dialogStateProblem(v))
    })
})
