import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { type CallSummary, CdrWriter } from './cdr.ts'

const T0 = Date.UTC(2026, 0, 5, 9, 30, 0)

const summary = (callId: string): CallSummary => ({
  callId,
  legACallId: 'a@webex',
  legBCallId: 'b@sbc',
  sourceGroup: 'webex',
  destinationGroup: 'twilio',
  routingRule: 'webex-to-twilio',
  from: '+15559870000',
  to: '+15551230000',
  start: T0,
  answer: T0 + 4_000,
  end: T0 + 64_250,
  finalCode: 200,
  hangup: { by: 'callee', reason: 'bye' },
})

/** A sink that records every write call it receives, so the test sees how lines are grouped. */
function chunks(fail?: Error): { sink: Writable; writes: string[] } {
  const writes: string[] = []
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      writes.push(chunk.toString())
      cb(fail)
    },
  })
  sink.on('error', () => {})
  return { sink, writes }
}

const turn = () => new Promise((r) => setImmediate(r))

describe('CdrWriter coalescing', () => {
  it('writes the lines of one event-loop turn in one write, in order', async () => {
    const { sink, writes } = chunks()
    const w = new CdrWriter(sink, { coalesce: true })
    for (const id of ['x', 'y', 'z']) assert.ok(w.write(summary(id)))
    assert.equal(writes.length, 0, 'nothing written before the turn ends')
    await turn()
    assert.equal(writes.length, 1)
    const ids = writes[0]!
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { callId: string }).callId)
    assert.deepEqual(ids, ['x', 'y', 'z'])
    w.write(summary('next'))
    await turn()
    assert.equal(writes.length, 2, 'a later turn gets its own write')
  })

  it('flush() writes pending lines at once (the exit path)', () => {
    const { sink, writes } = chunks()
    const w = new CdrWriter(sink, { coalesce: true })
    w.write(summary('x'))
    w.flush()
    assert.equal(writes.length, 1)
    assert.equal((JSON.parse(writes[0]!) as { callId: string }).callId, 'x')
  })

  it('counts every line of a failed write as lost', async () => {
    const errors: Error[] = []
    const { sink } = chunks(new Error('disk full'))
    const w = new CdrWriter(sink, { coalesce: true, onError: (e) => errors.push(e) })
    w.write(summary('x'))
    w.write(summary('y'))
    await turn()
    await turn()
    assert.equal(w.lost, 2)
    assert.equal(errors[0]?.message, 'disk full')
  })

  it('writes each line at once without coalescing (the default for streams other than stdout)', () => {
    const { sink, writes } = chunks()
    const w = new CdrWriter(sink)
    w.write(summary('x'))
    w.write(summary('y'))
    assert.equal(writes.length, 2)
  })
})
