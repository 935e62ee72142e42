import { channel } from 'node:diagnostics_channel'
import { SipTransactionError, TransactionErrorCode } from './errors.ts'

/** States of the RFC 3261 §17 machines, plus `Accepted` from RFC 6026 §7.1/§7.2. */
export const TransactionState = {
  Calling: 'Calling',
  Trying: 'Trying',
  Proceeding: 'Proceeding',
  Completed: 'Completed',
  Confirmed: 'Confirmed',
  Accepted: 'Accepted',
  Terminated: 'Terminated',
} as const
export type TransactionState = (typeof TransactionState)[keyof typeof TransactionState]

/** The four machines of RFC 3261 §17. */
export type TransactionKind = 'invite-client' | 'non-invite-client' | 'invite-server' | 'non-invite-server'

type Moves = Readonly<Partial<Record<TransactionState, readonly TransactionState[]>>>

/**
 * Legal moves per machine, read off the figures of RFC 3261 §17 as amended by RFC 6026 (figures 5
 * to 8 of https://www.rfc-editor.org/rfc/rfc6026#section-7). Every machine may also go straight
 * to Terminated from a non-final state on a transport error (RFC 3261 §17.1.4, §17.2.4).
 */
const legal: Readonly<Record<TransactionKind, Moves>> = {
  'invite-client': {
    Calling: ['Proceeding', 'Completed', 'Accepted', 'Terminated'],
    Proceeding: ['Completed', 'Accepted', 'Terminated'],
    Completed: ['Terminated'],
    Accepted: ['Terminated'],
  },
  'non-invite-client': {
    Trying: ['Proceeding', 'Completed', 'Terminated'],
    Proceeding: ['Completed', 'Terminated'],
    Completed: ['Terminated'],
  },
  'invite-server': {
    Proceeding: ['Completed', 'Accepted', 'Terminated'],
    Completed: ['Confirmed', 'Terminated'],
    Confirmed: ['Terminated'],
    Accepted: ['Terminated'],
  },
  'non-invite-server': {
    Trying: ['Proceeding', 'Completed', 'Terminated'],
    Proceeding: ['Completed', 'Terminated'],
    Completed: ['Terminated'],
  },
}

/** The state each machine starts in. */
export const initialState: Readonly<Record<TransactionKind, TransactionState>> = {
  'invite-client': 'Calling',
  'non-invite-client': 'Trying',
  'invite-server': 'Proceeding',
  'non-invite-server': 'Trying',
}

/** Whether `kind` may move from `from` to `to`. */
export function isLegalTransition(
  kind: TransactionKind,
  from: TransactionState,
  to: TransactionState,
): boolean {
  return legal[kind][from]?.includes(to) ?? false
}

/**
 * Returns `to` if the move is legal for `kind`, else throws. An illegal move is a bug in the
 * machine, never a reaction to input: input that does not fit a state is ignored before this.
 */
export function transition(
  kind: TransactionKind,
  from: TransactionState,
  to: TransactionState,
): TransactionState {
  if (!isLegalTransition(kind, from, to)) {
    throw new SipTransactionError(
      TransactionErrorCode.illegalTransition,
      `${kind}: illegal move ${from} → ${to}`,
    )
  }
  return to
}

/** What {@link transactionStateChannel} publishes on every move. */
export interface TransactionStateEvent {
  readonly kind: TransactionKind
  readonly from: TransactionState
  readonly to: TransactionState
  /** The transaction object, for subscribers that want its request. */
  readonly transaction: object
}

/**
 * `sbc:sip:transaction-state`: every state move of every transaction (tracing, metrics). Free when
 * nobody subscribes (STYLE.md §5.8).
 */
export const transactionStateChannel = channel('sbc:sip:transaction-state')

/** {@link transition}, then publishes the move if anyone listens. */
export function move(
  transaction: object,
  kind: TransactionKind,
  from: TransactionState,
  to: TransactionState,
): TransactionState {
  const next = transition(kind, from, to)
  if (transactionStateChannel.hasSubscribers) {
    transactionStateChannel.publish({ kind, from, to, transaction } satisfies TransactionStateEvent)
  }
  return next
}
