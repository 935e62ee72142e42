import assert from 'node:assert/strict'
import { Type } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import fc from 'fast-check'
import { compileStrictCheck } from './compile-strict-check.ts'
import {
  type DialogLeg,
  type DialogState,
  DialogStateSchema,
  dialogStateProblem,
  isDialogState,
} from './dialog-state.ts'

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
    ['an unknown property of a leg', (c) => ({ ...c, b: { ...c.b, extra: 1 } })],
    ['an unknown property of a peer', (c) => ({ ...c, a: { ...c.a, peer: { ...c.a.peer, extra: 1 } } })],
    ['an unknown property of the media', (c) => ({ ...c, media: { pod: 'm1', ngCallId: 'n', extra: 1 } })],
    ['an unknown property of the admission', (c) => ({ ...c, admission: { ...c.admission, extra: 1 } })],
    ['an unknown property of the CDR fields', (c) => ({ ...c, cdr: { extra: 1 } })],
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

  it("gives the verdicts of TypeBox's own compiled check (fast-check: keys added, removed, retyped)", () => {
    const full = (): DialogState => ({
      ...call(),
      answeredAt: 1_790_000_000_100,
      sessionExpiresS: 1800,
      a: { ...leg('a@x'), routeSet: ['<sip:p@x;lr>'], peer: { ...leg('a@x').peer, connectionId: 'c1' } },
      media: { pod: 'm1', ngCallId: 'n', fromTag: 'f', toTag: 't', sessionA: 's1', sessionB: 's2' },
      cdr: { caller: 'c', callee: 'd', endedBy: 'a', sipCode: 200 },
    })
    const typebox = TypeCompiler.Compile(DialogStateSchema)
    // Every object reachable in the full call, by path.
    const paths = ['', 'a', 'b', 'a.peer', 'b.peer', 'media', 'admission', 'cdr']
    const at = (root: Record<string, unknown>, path: string) =>
      path === ''
        ? root
        : (path.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], root) as Record<
            string,
            unknown
          >)
    const change = fc.record({
      path: fc.constantFrom(...paths),
      op: fc.constantFrom('add', 'delete', 'retype', 'undefine'),
      key: fc.constantFrom(
        'extra',
        'id',
        'callId',
        'port',
        'pod',
        'counters',
        'caller',
        'state',
        'toString',
        '__proto__x',
      ),
      value: fc.constantFrom<unknown>(1, 'x', null, {}, [], true),
    })
    fc.assert(
      fc.property(fc.array(change, { maxLength: 3 }), (changes) => {
        const v = structuredClone(full()) as unknown as Record<string, unknown>
        for (const c of changes) {
          const o = at(v, c.path)
          if (o === undefined || o === null || typeof o !== 'object') continue
          if (c.op === 'delete') delete o[c.key]
          else if (c.op === 'undefine') o[c.key] = undefined
          else o[c.key] = c.value
        }
        assert.equal(isDialogState(v), typebox.Check(v), JSON.stringify(changes))
      }),
      { numRuns: 2000 },
    )
  })
})

describe('compileStrictCheck', () => {
  it('refuses a schema whose key restriction sits where it cannot follow (inside a union)', () => {
    const s = Type.Union([Type.Object({ a: Type.String() }, { additionalProperties: false }), Type.String()])
    assert.throws(() => compileStrictCheck(Type.Object({ u: s })), /not supported/)
  })
})
