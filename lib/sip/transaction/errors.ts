import { SbcError } from '../../errors.ts'

/** Stable codes of transaction-layer errors; see docs/errors.md. */
export const TransactionErrorCode = {
  /** A state machine was asked to make a move RFC 3261 §17 does not allow (a bug, not bad input). */
  illegalTransition: 'SBC_ERR_TXN_ILLEGAL_TRANSITION',
  /** Timer B or F fired: no final response arrived in time (RFC 3261 §17.1.1.2, §17.1.2.2). */
  timeout: 'SBC_ERR_TXN_TIMEOUT',
  /** The transport could not send a message of the transaction (RFC 3261 §17.1.4, §17.2.4). */
  transportError: 'SBC_ERR_TXN_TRANSPORT',
  /** A request or response cannot start a transaction (e.g. no Via branch on a client request). */
  badMessage: 'SBC_ERR_TXN_BAD_MESSAGE',
} as const
export type TransactionErrorCode = (typeof TransactionErrorCode)[keyof typeof TransactionErrorCode]

/** An error of the SIP transaction layer. */
export class SipTransactionError extends SbcError {
  declare readonly code: TransactionErrorCode

  constructor(code: TransactionErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options)
  }
}
