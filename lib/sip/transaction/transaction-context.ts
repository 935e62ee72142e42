import type { SipMessage } from '../message/message.ts'
import type { SendDone } from '../transport/transport.ts'
import type { Clock, TimerValues } from './timers.ts'

/**
 * What a transaction needs from its surroundings: a way to hand a message to the transport (the
 * destination is fixed when the transaction is created), the clock, and the resolved timers.
 */
export interface TransactionContext {
  /**
   * Serialises and sends; `done` hears of a transport error (once, never synchronously). A
   * callback, not a promise: every message of a call goes through here and nothing waits for it.
   */
  send(message: SipMessage, done: SendDone): void
  readonly clock: Clock
  readonly timers: TimerValues
  /** Reliable (TCP/TLS) transports skip the retransmission timers A, E, G (RFC 3261 §17.1.1.2). */
  readonly reliable: boolean
}

/** Called by every machine once it reaches Terminated, so the layer forgets it. */
export type OnTerminated = () => void
