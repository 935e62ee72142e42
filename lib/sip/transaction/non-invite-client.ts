import type { SipResponse } from '../message/message.ts'
import { SipTransactionError, TransactionErrorCode } from './errors.ts'
import { Transaction } from './transaction.ts'

/** What a non-INVITE client transaction tells its transaction user. */
export interface NonInviteClientUser {
  /** Provisional and final responses (each final once; retransmissions are absorbed). */
  onResponse(response: SipResponse): void
  /** Timer F fired: "the client transaction SHOULD inform the TU about the timeout" (§17.1.2.2). */
  onTimeout?(error: SipTransactionError): void
  onTransportError?(error: SipTransactionError): void
}

/** The user of a Completed transaction: nothing reaches it any more. */
const DONE: NonInviteClientUser = { onResponse: () => {} }

/** The non-INVITE client transaction of RFC 3261 §17.1.2 (figure 6). */
export class NonInviteClientTransaction extends Transaction<NonInviteClientUser, 'E' | 'F' | 'K'> {
  readonly kind = 'non-invite-client' as const
  /** Retransmissions of the request sent so far (Timer E). */
  retransmissions = 0

  /**
   * RFC 3261 §17.1.2.2: "the request MUST be passed to the transport layer for transmission ... timer
   * F MUST be set to fire in 64*T1 seconds ... If an unreliable transport is in use, the client
   * transaction MUST set timer E to fire in T1 seconds."
   */
  start(): void {
    this.#send()
    this.timers.start('F', this.ctx.timers.F, () => {
      if (this.state !== 'Trying' && this.state !== 'Proceeding') return
      this.terminate()
      this.user.onTimeout?.(
        new SipTransactionError(TransactionErrorCode.timeout, 'Timer F fired: no final response'),
      )
    })
    if (!this.ctx.reliable) this.#armE(this.ctx.timers.E)
  }

  #armE(interval: number): void {
    this.timers.start('E', interval, () => {
      // "If timer E fires while still in this state, the timer is reset, but this time with a value
      // of MIN(2*T1, T2) ... If Timer E fires while in the 'Proceeding' state, the request MUST be
      // passed to the transport layer for retransmission, and Timer E MUST be reset with a value of T2."
      if (this.state !== 'Trying' && this.state !== 'Proceeding') return
      this.retransmissions++
      this.#send()
      const t2 = this.ctx.timers.t2
      this.#armE(this.state === 'Trying' ? Math.min(2 * interval, t2) : t2)
    })
  }

  /** A response matched to this transaction (RFC 3261 §17.1.3). */
  receiveResponse(response: SipResponse): void {
    if (this.state !== 'Trying' && this.state !== 'Proceeding') return // Completed: absorbed
    if (response.status < 200) {
      this.move('Proceeding')
      this.user.onResponse(response)
      return
    }
    // "If a final response (status codes 200-699) is received while in the 'Trying' state [or in
    // 'Proceeding'], the response MUST be passed to the TU, and the client transaction MUST
    // transition to the 'Completed' state ... Once the client transaction enters the 'Completed'
    // state, it MUST set Timer K to fire in T4 seconds for unreliable transports, and zero seconds
    // for reliable transports."
    this.timers.stopAll()
    this.move('Completed')
    this.releaseRequest()
    const user = this.user
    // Completed only absorbs retransmissions for Timer K: the TU (and what its callbacks hold, such
    // as the request it relayed) is not needed for those 5 s.
    this.user = DONE
    user.onResponse(response)
    if (this.ctx.timers.K === 0) this.terminate()
    else this.timers.start('K', this.ctx.timers.K, () => this.terminate())
  }

  #send(): void {
    this.send(this.liveRequest, 'request could not be sent')
  }
}
