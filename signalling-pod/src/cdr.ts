import type { Writable } from 'node:stream'
import { type Static, Type } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
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

/** `YYYY-MM-DDTHH:MM:` of recent minutes; a CDR's start, answer and end are usually within one or two. */
const minutePrefixes = new Map<number, string>()
const MINUTE_PREFIXES_MAX = 16
/** 9999-12-31T23:59:59.999Z + 1 ms: later times print a six-digit year, which the fast path does not. */
const FOUR_DIGIT_YEAR_END = 253_402_300_800_000

/**
 * `new Date(ms).toISOString()`, byte for byte, at a fraction of its CPU: the date and time up to the
 * minute is formatted once per minute and only seconds and milliseconds per call. Three times per
 * CDR made `toISOString` a visible share of a call's CPU (docs/benchmarks/signalling.md). Anything
 * outside whole milliseconds of years 1970–9999 takes `toISOString` itself (same output, same
 * RangeError for NaN).
 */
export function isoTime(ms: number): string {
  if (!Number.isInteger(ms) || ms < 0 || ms >= FOUR_DIGIT_YEAR_END) return new Date(ms).toISOString()
  const minute = Math.floor(ms / 60_000)
  let prefix = minutePrefixes.get(minute)
  if (prefix === undefined) {
    if (minutePrefixes.size >= MINUTE_PREFIXES_MAX) minutePrefixes.clear()
    prefix = new Date(minute * 60_000).toISOString().slice(0, 17)
    minutePrefixes.set(minute, prefix)
  }
  const inMinute = ms - minute * 60_000
  const sec = Math.floor(inMinute / 1000)
  const milli = inMinute - sec * 1000
  return `${prefix}${sec < 10 ? '0' : ''}${sec}.${milli < 10 ? '00' : milli < 100 ? '0' : ''}${milli}Z`
}

/** Builds the record from a summary (times to ISO, durations in seconds) and checks it. */
export function buildCdr(s: CallSummary, pod?: string): CdrRecord {
  const iso = isoTime
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
  // Compiled once on first use: one check per call, and the interpreted Value.Check was a visible
  // share of a call's CPU (docs/benchmarks/signalling.md).
  cdrChecker ??= TypeCompiler.Compile(CdrRecord)
  if (!cdrChecker.Check(record)) {
    const first = [...Value.Errors(CdrRecord, record)][0]
    throw new RangeError(`Invalid CDR for call ${s.callId}: ${first?.path ?? ''} ${first?.message ?? ''}`)
  }
  return record
}

let cdrChecker: ReturnType<typeof TypeCompiler.Compile<typeof CdrRecord>> | undefined

/**
 * Writes one JSON line per call to a stream (a file, stdout, a socket). Never throws into call
 * handling: a sink error is reported to `onError` and the record counted as lost.
 *
 * With `coalesce` (the default for `process.stdout`), the lines of one event-loop turn leave in one
 * write: Node writes stdout synchronously when it is a pipe or a file, one syscall per line, and
 * that syscall was a visible share of a call's CPU (docs/benchmarks/signalling.md). Pending lines
 * are flushed at the end of the turn and, synchronously, when the process exits.
 */
export class CdrWriter {
  readonly #sink: Writable
  readonly #pod: string | undefined
  readonly #onError: (e: Error) => void
  readonly #coalesce: boolean
  #pending = ''
  #scheduled = false
  #lost = 0

  constructor(
    sink: Writable,
    options: { pod?: string; onError?: (e: Error) => void; coalesce?: boolean } = {},
  ) {
    this.#sink = sink
    this.#pod = options.pod
    this.#onError = options.onError ?? (() => {})
    this.#coalesce = options.coalesce ?? sink === process.stdout
    if (this.#coalesce) process.once('exit', () => this.flush())
  }

  /** Records lost to sink errors or invalid summaries. */
  get lost(): number {
    return this.#lost
  }

  /** Builds, checks and writes the record; returns it (undefined when it could not be written). */
  write(summary: CallSummary): CdrRecord | undefined {
    try {
      const record = buildCdr(summary, this.#pod)
      const line = `${JSON.stringify(record)}\n`
      if (!this.#coalesce) {
        this.#emit(line, 1)
        return record
      }
      this.#pending += line
      if (!this.#scheduled) {
        this.#scheduled = true
        setImmediate(() => this.flush())
      }
      return record
    } catch (e) {
      this.#lost++
      this.#onError(e as Error)
      return undefined
    }
  }

  /** Writes the lines still waiting for the end of the event-loop turn (coalesce mode). */
  flush(): void {
    this.#scheduled = false
    if (this.#pending === '') return
    const text = this.#pending
    this.#pending = ''
    let lines = 0
    for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) lines++
    this.#emit(text, lines)
  }

  #emit(text: string, lines: number): void {
    this.#sink.write(text, (err) => {
      if (err) {
        this.#lost += lines
        this.#onError(err)
      }
    })
  }
}
