import type { Writable } from 'node:stream'
import { type Static, Type } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'

const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()])
const Time = Type.String({
  pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}\\.\\d{3}Z$',
  description: 'ISO 8601, UTC, ms precision.',
})

/** Who ended the call. */
export const HangupParty = Type.Union([Type.Literal('caller'), Type.Literal('callee'), Type.Literal('sbc')])
export type HangupParty = Static<typeof HangupParty>

/**
 * One call detail record, written as one JSON line when the call ends (answered or not). Schema
 * version 1; fields are only ever added.
 */
export const CdrRecord = Type.Object(
  {
    v: Type.Literal(1),
    /** The B2BUA's call id (the DialogState id). */
    callId: Type.String({ minLength: 1 }),
    /** Call-ID of the leg toward the caller (A) and toward the callee (B, null if never sent). */
    legA: Type.Object({ sipCallId: Type.String({ minLength: 1 }) }),
    legB: Type.Object({ sipCallId: Nullable(Type.String({ minLength: 1 })) }),
    sourceGroup: Nullable(Type.String()),
    destinationGroup: Nullable(Type.String()),
    routingRule: Nullable(Type.String()),
    from: Nullable(Type.String({ description: 'Caller number (From user).' })),
    to: Nullable(Type.String({ description: 'Called number (Request-URI user).' })),
    startTime: Time,
    answerTime: Type.Union([Time, Type.Null()]),
    endTime: Time,
    /** Seconds from answer to end (0 when unanswered), ms precision. */
    durationSeconds: Type.Number({ minimum: 0 }),
    /** Seconds from start to end. */
    totalSeconds: Type.Number({ minimum: 0 }),
    /** Final SIP status of the call setup (200 for answered calls). */
    finalCode: Type.Integer({ minimum: 100, maximum: 699 }),
    hangup: Type.Object({
      by: HangupParty,
      /** `bye`, `cancel`, `rejected`, `no-answer`, `session-timer`, `drain`, `admission`, `error`, ... */
      reason: Type.String({ minLength: 1 }),
      /** A Reason header (RFC 3326) or status text, when one came with it. */
      detail: Type.Optional(Type.String()),
    }),
    pod: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
)
export type CdrRecord = Static<typeof CdrRecord>

/** What the B2BUA knows when a call ends. */
export interface CallSummary {
  callId: string
  legACallId: string
  legBCallId: string | null
  sourceGroup: string | null
  destinationGroup: string | null
  routingRule?: string | null
  from?: string | null
  to?: string | null
  /** Epoch ms. */
  start: number
  answer: number | null
  end: number
  finalCode: number
  hangup: CdrRecord['hangup']
}

/** Builds the record from a summary (times to ISO, durations in seconds) and checks it. */
export function buildCdr(s: CallSummary, pod?: string): CdrRecord {
  const iso = (ms: number) => new Date(ms).toISOString()
  const seconds = (ms: number) => Math.max(0, Math.round(ms) / 1000)
  const record: CdrRecord = {
    v: 1,
    callId: s.callId,
    legA: { sipCallId: s.legACallId },
    legB: { sipCallId: s.legBCallId },
    sourceGroup: s.sourceGroup,
    destinationGroup: s.destinationGroup,
    routingRule: s.routingRule ?? null,
    from: s.from ?? null,
    to: s.to ?? null,
    startTime: iso(s.start),
    answerTime: s.answer === null ? null : iso(s.answer),
    endTime: iso(s.end),
    durationSeconds: s.answer === null ? 0 : seconds(s.end - s.answer),
    totalSeconds: seconds(s.end - s.start),
    finalCode: s.finalCode,
    hangup: { ...s.hangup },
  }
  if (pod !== undefined) record.pod = pod
  if (!Value.Check(CdrRecord, record)) {
    const first = [...Value.Errors(CdrRecord, record)][0]
    throw new RangeError(`Invalid CDR for call ${s.callId}: ${first?.path ?? ''} ${first?.message ?? ''}`)
  }
  return record
}

/**
 * Writes one JSON line per call to a stream (a file, stdout, a socket). Never throws into call
 * handling: a sink error is reported to `onError` and the record counted as lost.
 */
export class CdrWriter {
  readonly #sink: Writable
  readonly #pod: string | undefined
  readonly #onError: (e: Error) => void
  #lost = 0

  constructor(sink: Writable, options: { pod?: string; onError?: (e: Error) => void } = {}) {
    this.#sink = sink
    this.#pod = options.pod
    this.#onError = options.onError ?? (() => {})
  }

  /** Records lost to sink errors or invalid summaries. */
  get lost(): number {
    return this.#lost
  }

  /** Builds, checks and writes the record; returns it (undefined when it could not be written). */
  write(summary: CallSummary): CdrRecord | undefined {
    try {
      const record = buildCdr(summary, this.#pod)
      this.#sink.write(`${JSON.stringify(record)}\n`, (err) => {
        if (err) {
          this.#lost++
          this.#onError(err)
        }
      })
      return record
    } catch (e) {
      this.#lost++
      this.#onError(e as Error)
      return undefined
    }
  }
}
