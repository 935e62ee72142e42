import assert from 'node:assert/strict'
import {
  type Condition,
  findCondition,
  isConditionTrue,
  jsonEqual,
  setCondition,
  setConditions,
  statusDiffers,
} from './conditions.ts'

const t0 = new Date('2026-01-01T10:00:00.123Z')
const t1 = new Date('2026-01-01T10:05:00.999Z')

describe('conditions', () => {
  it('adds a new condition with observedGeneration and a second-precision transition time', () => {
    const list = setCondition(
      undefined,
      { type: 'Accepted', status: 'True', reason: 'Valid', message: '', observedGeneration: 3 },
      t0,
    )
    assert.deepEqual(list, [
      {
        type: 'Accepted',
        status: 'True',
        reason: 'Valid',
        message: '',
        observedGeneration: 3,
        lastTransitionTime: '2026-01-01T10:00:00Z',
      },
    ])
  })

  it('keeps lastTransitionTime when the status does not flip, even if reason, message or generation change', () => {
    const first = setCondition(
      [],
      { type: 'Ready', status: 'False', reason: 'Pending', message: 'a', observedGeneration: 1 },
      t0,
    )
    const second = setCondition(
      first,
      { type: 'Ready', status: 'False', reason: 'Waiting', message: 'b', observedGeneration: 2 },
      t1,
    )
    assert.equal(second[0]?.lastTransitionTime, '2026-01-01T10:00:00Z')
    assert.equal(second[0]?.reason, 'Waiting')
    assert.equal(second[0]?.observedGeneration, 2)
  })

  it('moves lastTransitionTime when the status flips', () => {
    const first = setCondition([], { type: 'Ready', status: 'False', reason: 'Pending', message: '' }, t0)
    const second = setCondition(first, { type: 'Ready', status: 'True', reason: 'Ready', message: '' }, t1)
    assert.equal(second[0]?.lastTransitionTime, '2026-01-01T10:05:00Z')
  })

  it('keeps the order of other conditions and does not mutate the input', () => {
    const input: Condition[] = setConditions(
      [],
      [
        { type: 'A', status: 'True', reason: 'X', message: '' },
        { type: 'B', status: 'True', reason: 'X', message: '' },
      ],
      t0,
    )
    const frozen = structuredClone(input)
    const out = setCondition(input, { type: 'A', status: 'False', reason: 'Y', message: 'm' }, t1)
    assert.deepEqual(input, frozen)
    assert.deepEqual(
      out.map((c) => [c.type, c.status]),
      [
        ['A', 'False'],
        ['B', 'True'],
      ],
    )
    assert.equal(findCondition(out, 'B')?.lastTransitionTime, '2026-01-01T10:00:00Z')
    assert.equal(isConditionTrue(out, 'A'), false)
    assert.equal(isConditionTrue(out, 'B'), true)
    assert.equal(isConditionTrue(out, 'C'), false)
  })

  it('re-setting identical conditions yields a status that does not differ', () => {
    const desired = [
      { type: 'Accepted', status: 'True', reason: 'Valid', message: '', observedGeneration: 4 },
      { type: 'Ready', status: 'Unknown', reason: 'Pending', message: 'waiting', observedGeneration: 4 },
    ] as const
    const current = { observedGeneration: 4, conditions: setConditions(undefined, desired, t0) }
    // a JSON round trip, as the API server would return it, with keys reordered
    const fromServer = JSON.parse(JSON.stringify({ conditions: current.conditions, observedGeneration: 4 }))
    const next = { observedGeneration: 4, conditions: setConditions(fromServer.conditions, desired, t1) }
    assert.equal(statusDiffers(fromServer, next), false)
    const changed = {
      observedGeneration: 5,
      conditions: setConditions(fromServer.conditions, desired, t1),
    }
    assert.equal(statusDiffers(fromServer, changed), true)
  })

  it('jsonEqual treats undefined properties as absent and respects array order', () => {
    assert.equal(jsonEqual({ a: 1, b: undefined }, { a: 1 }), true)
    assert.equal(jsonEqual({ a: [1, 2] }, { a: [2, 1] }), false)
    assert.equal(jsonEqual({ a: { b: 'x' } }, { a: { b: 'x' } }), true)
    assert.equal(jsonEqual([], {}), false)
    assert.equal(jsonEqual(null, {}), false)
    assert.equal(statusDiffers(undefined, {}), false)
  })
})
