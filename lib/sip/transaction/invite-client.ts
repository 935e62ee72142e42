import { stringifyVia } from '../message/headers/via.ts'
import { SipRequest, type SipResponse } from '../message/message.ts'
import { SipTransactionError, TransactionErrorCode } from './errors.ts'
import { Transaction } from './transaction.ts'

/** What an INVITE client transaction tells its transaction user (the UAC core or a B2BUA leg). */
export interface InviteClientUser {
  /** Every provisional and final response the TU must see (retransmissions of non-2xx finals are not). */
  onResponse(response: SipResponse): void
  /** Timer B fired in Calling: the TU "MUST" treat it as a 408 (RFC 3261 §17.1.1.2). */
  onTimeout?(error: SipTransactionError): void
  /** The request or the ACK could not be sent (RFC 3261 §17.1.4). */
  onTransportError?(error: SipTransactionError): void
}

/**
 * The INVITE client transaction of RFC 3261 §17.1.1 (figure 5), with the Accepted state of
 * RFC 6026 §7.2. Create it, then call {@link start}; feed it matching responses through
 * {@link receiveResponse}.
 */
export class InviteClientTransaction extends Transaction<InviteClientUser, 'A' | 'B' | 'D' | 'M'> {
  readonly kind = 'invite-client' as const
  #ack: SipRequest | undefined
  /** Retransmissions of the INVITE sent so far (Timer A). */
  retransmissions = 0

  /**
   * Sends the INVITE. RFC 3261 §17.1.1.2: "If an unreliable transport is being used, the client
   * transaction MUST start timer A with a value of T1 ... For any transport, the client transaction
   * MUST start timer B with a value of 64*T1 seconds".
   */
  start(): void {
    this.#send(this.liveRequest)
    if (!this.ctx.reliable) this.#armA(this.ctx.timers.A)
    this.timers.start('B', this.ctx.timers.B, () => {
      // "If the client transaction is still in the 'Calling' state when timer B fires, the client
      // transaction SHOULD inform the TU that a timeout has occurred."
      if (this.state !== 'Calling') return
      this.terminate()
      this.user.onTimeout?.(
        new SipTransactionError(TransactionErrorCode.timeout, 'Timer B fired: no response to INVITE'),
      )
    })
  }

  #armA(interval: number): void {
    this.timers.start('A', interval, () => {
      if (this.state !== 'Calling') return
      // "When timer A fires, the client transaction MUST retransmit the request by passing it to the
      // transport layer, and MUST reset the timer with a value of 2*T1."
      this.retransmissions++
      this.#send(this.liveRequest)
      this.#armA(interval * 2)
    })
  }

  /**
   * Hands the rest of the transaction to `user`. Once the TU has acknowledged the 2xx, all it still
   * needs in Accepted is to re-send that ACK for a retransmitted 2xx (RFC 3261 §13.2.2.4); a small
   * user for that lets the TU drop the call's setup state instead of keeping it for Timer M.
   */
  retarget(user: InviteClientUser): void {
    this.user = user
  }

  /** A response whose branch and CSeq method matched this transaction (RFC 3261 §17.1.3). */
  receiveResponse(response: SipResponse): void {
    const status = response.status
    switch (this.state) {
      case 'Calling':
      case 'Proceeding':
        if (status < 200) {
          // §17.1.1.2: "If the client transaction receives a provisional response while in the
          // 'Calling' state, it transitions to the 'Proceeding' state ... the provisional response
          // MUST be passed to the TU."
          this.timers.stop('A')
          this.timers.stop('B')
          this.move('Proceeding')
          this.user.onResponse(response)
        } else if (status < 300) {
          // RFC 6026 §7.2: "If a 2xx response is received while the client INVITE state machine is
          // in the 'Calling' or 'Proceeding' states, it MUST transition to the 'Accepted' state,
          // pass the 2xx response to the TU, and set Timer M to 64*T1."
          this.timers.stopAll()
          this.move('Accepted')
          this.releaseRequest()
          this.user.onResponse(response)
          this.timers.start('M', this.ctx.timers.M, () => this.terminate())
        } else {
          // §17.1.1.2: "When in either the 'Calling' or 'Proceeding' states, reception of a response
          // with status code from 300-699 MUST cause the client transaction to transition to
          // 'Completed'. The client transaction MUST pass the received response up to the TU, and
          // the client transaction MUST generate an ACK request ... The client transaction SHOULD
          // start timer D ... with a value of at least 32 seconds for unreliable transports, and a
          // value of zero seconds for reliable transports."
          this.timers.stopAll()
          this.move('Completed')
          this.#ack = buildAck(this.liveRequest, response)
          this.releaseRequest()
          this.#send(this.#ack)
          this.user.onResponse(response)
          this.#startD()
        }
        return
      case 'Completed':
        // "Any retransmissions of the final response that are received while in the 'Completed'
        // state MUST cause the ACK to be re-passed to the transport layer for retransmission, but
        // the newly received response MUST NOT be passed up to the TU."
        if (status >= 300 && this.#ack) this.#send(this.#ack)
        return
      case 'Accepted':
        // RFC 6026 §7.2: "Any 2xx responses that match this client transaction and that are
        // received while in the 'Accepted' state MUST be passed up to the TU."
        if (status >= 200 && status < 300) this.user.onResponse(response)
        return
      default:
        return
    }
  }

  #startD(): void {
    if (this.ctx.timers.D === 0) this.terminate()
    else this.timers.start('D', this.ctx.timers.D, () => this.terminate())
  }

  #send(message: SipRequest): void {
    this.send(message, 'INVITE transaction could not send')
  }
}

/**
 * The ACK for a non-2xx final response, built inside the transaction as RFC 3261 §17.1.1.3 says:
 * "The ACK request constructed by the client transaction MUST contain values for the Call-ID, From,
 * and Request-URI that are equal to the values of those header fields in the request passed to the
 * transport by the client transaction ... The To header field in the ACK MUST equal the To header
 * field in the response being acknowledged ... The ACK MUST contain a single Via header field, and
 * this MUST be equal to the top Via header field of the original request ... The CSeq header field
 * in the ACK MUST contain the same value for the sequence number as was present in the original
 * request, but the method parameter MUST be equal to 'ACK'. If the INVITE request whose response is
 * being acknowledged had Route header fields, those header fields MUST appear in the ACK."
 */
export function buildAck(invite: SipRequest, response: SipResponse): SipRequest {
  const ack = new SipRequest('ACK', invite.uri)
  const top = invite.topVia
  if (top) ack.addHeader('Via', stringifyVia(top))
  ack.addHeader('Max-Forwards', '70')
  const from = invite.header('from')
  if (from !== undefined) ack.addHeader('From', from)
  const to = response.header('to')
  if (to !== undefined) ack.addHeader('To', to)
  const callId = invite.header('call-id')
  if (callId !== undefined) ack.addHeader('Call-ID', callId)
  ack.addHeader('CSeq', `${invite.cseq?.seq ?? 0} ACK`)
  for (const route of invite.headerValues('route')) ack.addHeader('Route', route)
  ack.addHeader('Content-Length', '0')
  return ack
}
