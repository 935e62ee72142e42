import type { SipResponse } from '../message/message.ts'
import type { SipTransactionError } from './errors.ts'
import { ServerTransaction } from './transaction.ts'

/** What a non-INVITE server transaction tells its transaction user. */
export interface NonInviteServerUser {
  onTransportError?(error: SipTransactionError): void
}

/** The non-INVITE server transaction of RFC 3261 §17.2.2 (figure 8). */
export class NonInviteServerTransaction extends ServerTransaction<NonInviteServerUser, 'J'> {
  readonly kind = 'non-invite-server' as const

  /** The TU's response. "Any other final responses passed by the TU to the server transaction MUST be discarded while in the 'Completed' state." */
  respond(response: SipResponse): void {
    if (this.state !== 'Trying' && this.state !== 'Proceeding') return
    this.sendResponse(response)
    if (response.status < 200) {
      this.move('Proceeding')
      return
    }
    // "If the TU passes a final response (status codes 200-699) to the server while in the
    // 'Proceeding' state, the transaction MUST enter the 'Completed' state ... When the server
    // transaction enters the 'Completed' state, it MUST set Timer J to fire in 64*T1 seconds for
    // unreliable transports, and zero seconds for reliable transports."
    this.move('Completed')
    this.releaseRequest()
    if (this.ctx.timers.J === 0) this.terminate()
    else this.timers.start('J', this.ctx.timers.J, () => this.terminate())
  }
}
