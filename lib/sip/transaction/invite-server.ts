import type { SipRequest, SipResponse } from '../message/message.ts'
import { SipTransactionError, TransactionErrorCode } from './errors.ts'
import { ServerTransaction } from './transaction.ts'

/** What an INVITE server transaction tells its transaction user (the UAS core or a B2BUA leg). */
export interface InviteServerUser {
  /**
   * Timer H fired without an ACK for a non-2xx final, or Timer L ended the Accepted state without the
   * 2xx being acknowledged (RFC 3261 §17.2.1; §13.3.1.4: the UAS "SHOULD terminate the dialog").
   */
  onTimeout?(error: SipTransactionError): void
  onTransportError?(error: SipTransactionError): void
  /** The transaction entered Accepted (RFC 6026): the layer indexes it to match the 2xx's ACK. */
  onAccepted?(): void
}

/**
 * The INVITE server transaction of RFC 3261 §17.2.1 (figure 7) with the Accepted state of
 * RFC 6026 §7.1.
 *
 * @remarks
 * While Accepted on an unreliable transport, this object also retransmits the 2xx (T1, doubling up
 * to T2) until {@link acknowledge2xx} or Timer L. RFC 3261 §13.3.1.4 gives that duty to the UAS core;
 * keeping it here means every TU (our B2BUA legs, test responders) gets it right without its own
 * timers, and it stops exactly when the transaction does.
 */
export class InviteServerTransaction extends ServerTransaction<
  InviteServerUser,
  'G' | 'H' | 'I' | 'L' | 'Trying' | '2xx'
> {
  readonly kind = 'invite-server' as const
  #acked2xx = false

  /**
   * Schedules the 100 Trying. RFC 3261 §17.2.1: "the server transaction MUST generate a 100 (Trying)
   * response unless it knows that the TU will generate a provisional or final response within 200
   * ms, in which case it MAY generate a 100 (Trying) response." With `delayMs` 0 it is sent at once
   * (the B2BUA case: the other leg takes longer than 200 ms); otherwise it is sent after `delayMs`
   * unless the TU responded first.
   */
  scheduleTrying(trying: SipResponse, delayMs: number): void {
    if (delayMs <= 0) this.respond(trying)
    else
      this.timers.start('Trying', delayMs, () => {
        if (this.lastResponse === undefined) this.respond(trying)
      })
  }

  /** An ACK matched this transaction: only the ACK of a non-2xx final does (§17.2.3). */
  receiveAck(_ack: SipRequest): void {
    if (this.state !== 'Completed') {
      // §17.2.1: "any ACKs received while in the 'Confirmed' state" are absorbed.
      this.absorbed++
      return
    }
    // "If an ACK is received while the server transaction is in the 'Completed' state, the server
    // transaction MUST transition to the 'Confirmed' state. As Timer G is ignored in this state,
    // any retransmissions of the response will cease." ... "Timer I is set to fire in T4 seconds for
    // unreliable transports, and zero seconds for reliable transports."
    this.timers.stop('G')
    this.timers.stop('H')
    this.move('Confirmed')
    this.releaseLastResponse()
    if (this.ctx.timers.I === 0) this.terminate()
    else this.timers.start('I', this.ctx.timers.I, () => this.terminate())
  }

  /** The TU saw the ACK for the 2xx (a separate transaction): stop retransmitting the 2xx. */
  acknowledge2xx(): void {
    this.#acked2xx = true
    this.timers.stop('2xx')
  }

  /** The TU's response to the INVITE. Responses the state does not allow are ignored. */
  respond(response: SipResponse): void {
    const status = response.status
    if (this.state === 'Accepted') {
      // RFC 6026 §7.1: "2xx responses from the TU MUST be passed to the transport layer".
      if (status >= 200 && status < 300) this.resend(response)
      return
    }
    if (this.state !== 'Proceeding') return
    this.timers.stop('Trying')
    this.sendResponse(response)
    if (status < 200) return
    if (status < 300) {
      // RFC 6026 §7.1: "If, while in the 'Proceeding' state, the TU passes a 2xx response to the
      // server transaction, the server transaction MUST pass this response to the transport layer
      // for transmission. ... The server transaction MUST then transition to the 'Accepted' state"
      // and "Timer L ... is set to fire in 64*T1".
      this.move('Accepted')
      // From here on only the TU's 2xx (held by its retransmission timer) and the To tag matter.
      this.releaseRequest()
      this.releaseLastResponse()
      this.user.onAccepted?.()
      this.timers.start('L', this.ctx.timers.L, () => {
        if (!this.#acked2xx) {
          this.user.onTimeout?.(
            new SipTransactionError(TransactionErrorCode.timeout, '2xx to INVITE was never acknowledged'),
          )
        }
        this.terminate()
      })
      if (!this.ctx.reliable) this.#arm2xx(response, this.ctx.timers.G)
      return
    }
    // §17.2.1: "the state machine MUST transition to the 'Completed' state. For unreliable
    // transports, timer G is set to fire in T1 seconds ... When the 'Completed' state is entered,
    // timer H MUST be set to fire in 64*T1 seconds for all transports."
    this.move('Completed')
    this.releaseRequest()
    if (!this.ctx.reliable) this.#armG(this.ctx.timers.G)
    this.timers.start('H', this.ctx.timers.H, () => {
      // "If timer H fires while in the 'Completed' state, it implies that the ACK was never received.
      // In this case, the server transaction MUST transition to the 'Terminated' state, and MUST
      // indicate to the TU that a transaction failure has occurred."
      if (this.state !== 'Completed') return
      this.terminate()
      this.user.onTimeout?.(new SipTransactionError(TransactionErrorCode.timeout, 'Timer H fired: no ACK'))
    })
  }

  #armG(interval: number): void {
    this.timers.start('G', interval, () => {
      // "If timer G fires, the response is passed to the transport layer once more for
      // retransmission, and timer G is set to fire in MIN(2*T1, T2) seconds."
      const last = this.lastResponse
      if (this.state !== 'Completed' || !last) return
      this.retransmissions++
      this.resend(last)
      this.#armG(Math.min(2 * interval, this.ctx.timers.t2))
    })
  }

  #arm2xx(response: SipResponse, interval: number): void {
    this.timers.start('2xx', interval, () => {
      // RFC 3261 §13.3.1.4: "The 2xx response is passed to the transport with an interval that
      // starts at T1 seconds and doubles for each retransmission until it reaches T2 seconds."
      if (this.state !== 'Accepted' || this.#acked2xx) return
      this.retransmissions++
      this.resend(response)
      this.#arm2xx(response, Math.min(2 * interval, this.ctx.timers.t2))
    })
  }
}
