import { SbcError } from '../../errors.ts'

/** Stable codes of the errors the transport layer raises or reports; see docs/errors.md. */
export const TransportErrorCode = {
  /** A stream message exceeded the configured maximum size; the connection was closed. */
  messageTooLarge: 'SBC_ERR_SIP_TRANSPORT_MESSAGE_TOO_LARGE',
  /** A stream message had no parseable Content-Length (RFC 3261 §18.3 makes it mandatory). */
  badContentLength: 'SBC_ERR_SIP_TRANSPORT_BAD_CONTENT_LENGTH',
  /** No connection to the destination could be opened (refused, timed out, TLS failure). */
  connectFailed: 'SBC_ERR_SIP_TRANSPORT_CONNECT_FAILED',
  /** A send was refused: transport closed, connection limit, or a socket error. */
  sendFailed: 'SBC_ERR_SIP_TRANSPORT_SEND_FAILED',
  /** The per-source connection limit was reached; the new connection was closed. */
  connectionLimit: 'SBC_ERR_SIP_TRANSPORT_CONNECTION_LIMIT',
  /** A listener could not be bound (address in use, address not local). */
  listenFailed: 'SBC_ERR_SIP_TRANSPORT_LISTEN_FAILED',
  /** The TLS configuration could not be loaded (missing file, bad PEM). */
  tlsConfig: 'SBC_ERR_SIP_TRANSPORT_TLS_CONFIG',
} as const
export type TransportErrorCode = (typeof TransportErrorCode)[keyof typeof TransportErrorCode]

/** An error raised or reported by a SIP transport. It never escapes a socket callback. */
export class SipTransportError extends SbcError {
  declare readonly code: TransportErrorCode

  constructor(code: TransportErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options)
  }
}
