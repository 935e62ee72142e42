import assert from 'node:assert/strict'
import { PassThrough, Writable } from 'node:stream'
import { Value } from '@sinclair/typebox/value'
import { type CallSummary, CdrRecord, CdrWriter, isoTime } from './cdr.ts'

const T0 = Date.UTC(2026, 0, 5, 9, 30, 0)

const summary = (over: Partial<CallSummary> = {}): CallSummary => ({
  callId: 'c-1',
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
  ...over,
})

function capture(): { sink: PassThrough; lines: () => unknown[] } {
  const sink = new PassThrough()
  let text = ''
  sink.on('data', (d: Buffer) => {
    text += d.toString()
  })
  return {
    sink,
    lines: () =>
      text
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as unknown),
  }
}

describe('CDR writer', () => {
  const cases: { name: string; over: Partial<CallSummary>; want: Record<string, unknown> }[] = [
    {
      name: 'writes an answered call with answer-to-end duration',
      over: {},
      want: {
        startTime: '2026-01-05T09:30:00.000Z',
        answerTime: '2026-01-05T09:30:04.000Z',
        endTime: '2026-01-05T09:31:04.250Z',
        durationSeconds: 60.25,
        totalSeconds: 64.25,
        finalCode: 200,
        hangup: { by: 'callee', reason: 'bye' },
      },
    },
    {
      name: 'writes a rejected call with zero duration and the callee code',
      over: {
        answer: null,
        end: T0 + 2_000,
        finalCode: 486,
        hangup: { by: 'callee', reason: 'rejected', detail: 'Busy Here' },
      },
      want: { answerTime: null, durationSeconds: 0, totalSeconds: 2, finalCode: 486 },
    },
    {
      name: 'writes a caller CANCEL as a 487 hung up by the caller',
      over: { answer: null, end: T0 + 1_500, finalCode: 487, hangup: { by: 'caller', reason: 'cancel' } },
      want: { finalCode: 487, hangup: { by: 'caller', reason: 'cancel' } },
    },
    {
      name: 'writes an admission refusal as the SBC hanging up, without a B leg',
      over: {
        legBCallId: null,
        destinationGroup: 'twilio',
        answer: null,
        end: T0,
        finalCode: 503,
        hangup: { by: 'sbc', reason: 'admission' },
      },
      want: { legB: { sipCallId: null }, finalCode: 503, hangup: { by: 'sbc', reason: 'admission' } },
    },
  ]
  for (const c of cases) {
    it(c.name, () => {
      const { sink, lines } = capture()
      new CdrWriter(sink, { pod: 'sig-0' }).write(summary(c.over))
      const [line] = lines()
      assert.ok(Value.Check(CdrRecord, line), 'matches the schema')
      const rec = line as Record<string, unknown>
      for (const [k, v] of Object.entries(c.want)) assert.deepEqual(rec[k], v, k)
      assert.equal(rec.pod, 'sig-0')
    })
  }

  it('formats times exactly as Date.toISOString, also across minutes, years and its fallbacks', () => {
    const edges = [
      0, 1, 9, 10, 99, 100, 999, 59_999, 60_000, 951_782_399_999, 951_782_400_000, 1_764_225_599_999,
    ]
    edges.push(253_402_300_799_999, 253_402_300_800_000, -1, 1.5, 8_640_000_000_000_000)
    for (const ms of edges) assert.equal(isoTime(ms), new Date(ms).toISOString(), String(ms))
    // A walk with an odd stride visits every second and millisecond digit and over 16 minutes, so
    // the prefix cache is both reused and cleared.
    for (let ms = 1_764_225_000_000, i = 0; i < 5_000; i++, ms += 7_919) {
      assert.equal(isoTime(ms), new Date(ms).toISOString(), String(ms))
    }
    assert.throws(() => isoTime(Number.NaN), RangeError)
  })

  it('writes one line per call', () => {
    const { sink, lines } = capture()
    const w = new CdrWriter(sink)
    w.write(summary({ callId: 'x' }))
    w.write(summary({ callId: 'y' }))
    assert.deepEqual(
      lines().map((l) => (l as { callId: string }).callId),
      ['x', 'y'],
    )
  })

  it('refuses an impossible summary without throwing and counts it lost', () => {
    const errors: Error[] = []
    const w = new CdrWriter(new PassThrough(), { onError: (e) => errors.push(e) })
    assert.equal(w.write(summary({ finalCode: 99 })), undefined)
    assert.equal(w.lost, 1)
    assert.match(errors[0]!.message, /finalCode/)
  })

  it('reports a failing sink without throwing', async () => {
    const broken = new Writable({ write: (_c, _e, cb) => cb(new Error('disk full')) })
    broken.on('error', () => {})
    const errors: Error[] = []
    const w = new CdrWriter(broken, { onError: (e) => errors.push(e) })
    w.write(summary())
    await new Promise((r) => setImmediate(r))
    assert.equal(w.lost, 1)
    assert.equal(errors[0]?.message, 'disk full')
  })
})
