import type { SipMessage, SipRequest, SipResponse } from '../message/message.ts'
import { parse } from '../message/parse.ts'
import { defaultTimerSettings, ManualClock, timerValues } from './timers.ts'
import type { TransactionContext } from './transaction-context.ts'

/**
 * Builders for the transaction specs: real messages from the real parser, a manual clock, and a
 * context that records what the machine sent. Not a test file itself.
 */
export interface RecordingContext extends TransactionContext {
  readonly clock: ManualClock
  /** Every message passed to the transport, in order, with the clock time. */
  readonly sent: { at: number; message: SipMessage }[]
  /** Makes the next sends reject, as a dead transport does. */
  failSends: boolean
}

export function recordingContext(reliable = false): RecordingContext {
  const clock = new ManualClock()
  const ctx: RecordingContext = {
    clock,
    reliable,
    timers: timerValues(defaultTimerSettings, reliable),
    sent: [],
    failSends: false,
    send(message, done) {
      // As a transport does: the outcome is reported on a later tick, never synchronously.
      if (ctx.failSends) {
        queueMicrotask(() => done(new Error('transport down')))
        return
      }
      ctx.sent.push({ at: clock.now(), message })
      queueMicrotask(() => done())
    },
  }
  return ctx
}

const crlf = (lines: string[]) => Buffer.from(`${lines.join('\r\n')}\r\n\r\n`)

/** An INVITE (or other method) from alice, with a z9hG4bK branch unless `branch` says otherwise. */
export function request(
  method = 'INVITE',
  options: { branch?: string; toTag?: string; cseq?: number; uri?: string } = {},
): SipRequest {
  const branch = options.branch ?? 'z9hG4bKspec1'
  const m = parse(
    crlf([
      `${method} ${options.uri ?? 'sip:bob@192.0.2.2'} SIP/2.0`,
      `Via: SIP/2.0/UDP 192.0.2.1:5060${branch ? `;branch=${branch}` : ''}`,
      'Via: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bKupstream',
      'Max-Forwards: 70',
      'Route: <sip:proxy.example.com;lr>',
      'From: <sip:alice@example.com>;tag=fromtag',
      `To: <sip:bob@example.com>${options.toTag ? `;tag=${options.toTag}` : ''}`,
      'Call-ID: spec-call@192.0.2.1',
      `CSeq: ${options.cseq ?? 1} ${method === 'ACK' || method === 'CANCEL' ? method : method}`,
      'Content-Length: 0',
    ]),
  )
  if (m.kind !== 'request') throw new Error('not a request')
  return m
}

/** A response to `req` with `status`, To tag `totag` for status > 100. */
export function response(req: SipRequest, status: number, toTag = 'totag'): SipResponse {
  const top = req.headerValues('via')[0]!
  const m = parse(
    crlf([
      `SIP/2.0 ${status} Whatever`,
      `Via: ${top}`,
      `From: ${req.header('from')}`,
      `To: ${req.header('to')}${status > 100 && req.toTag === undefined ? `;tag=${toTag}` : ''}`,
      `Call-ID: ${req.callId}`,
      `CSeq: ${req.header('cseq')}`,
      'Content-Length: 0',
    ]),
  )
  if (m.kind !== 'response') throw new Error('not a response')
  return m
}

/** Methods of what was sent, e.g. `['INVITE', 'INVITE', 'ACK']` or status codes for responses. */
export function sentSummary(ctx: RecordingContext): (string | number)[] {
  return ctx.sent.map(({ message }) => (message.kind === 'request' ? message.method : message.status))
}

/** Lets rejected sends settle (they are handled in a promise callback). */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}
