import type { SipRequest, SipResponse } from '../message/message.ts'
import { SipTransactionError, TransactionErrorCode } from './errors.ts'
import { NamedTimers } from './timers.ts'
import type { OnTerminated, TransactionContext } from './transaction-context.ts'
import { move, type TransactionState } from './transaction-state.ts'

/** What a non-INVITE server transaction tells its transaction user. */
export interface NonInviteServerUser {
  onTransportError?(error: SipTransactionError): void
}

/** The non-INVITE server transaction of RFC 3261 §17.2.2 (figure 8). */
export class NonInviteServerTransaction {
  readonly kind = 'non-invite-server' as const
  readonly request: SipRequest
  #state: TransactionState = 'Trying'
  readonly #ctx: TransactionContext
  readonly #user: NonInviteServerUser
  readonly #onTerminated: OnTerminated
  readonly #timers: NamedTimers<'J'>
  #lastResponse: SipResponse | undefined
  /** Request retransmissions absorbed. */
  absorbed = 0
  /** Responses re-sent because the request was retransmitted. */
  retransmissions = 0

  constructor(
    request: SipRequest,
    ctx: TransactionContext,
    user: NonInviteServerUser,
    onTerminated: OnTerminated,
  ) {
    this.request = request
    this.#ctx = ctx
    this.#user = user
    this.#onTerminated = onTerminated
    this.#timers = new NamedTimers(ctx.clock)
  }

  get state(): TransactionState {
    return this.#state
  }

  get lastResponse(): SipResponse | undefined {
    return this.#lastResponse
  }

  /** A retransmission of the request matched this transaction (§17.2.3). */
  receiveRequest(_request: SipRequest): void {
    this.absorbed++
    // §17.2.2: "Once in the 'Trying' state, any further request retransmissions are discarded."
    // "If a retransmission of the request is received while in the 'Proceeding' state, the most
    // recently sent provisional response MUST be passed to the transport layer for retransmission."
    // "While in the 'Completed' state, the server transaction MUST pass the final response to the
    // transport layer for retransmission whenever a retransmission of the request is received."
    if ((this.#state === 'Proceeding' || this.#state === 'Completed') && this.#lastResponse) {
      this.retransmissions++
      this.#send(this.#lastResponse)
    }
  }

  /** The TU's response. "Any other final responses passed by the TU to the server transaction MUST be discarded while in the 'Completed' state." */
  respond(response: SipResponse): void {
    if (this.#state !== 'Trying' && this.#state !== 'Proceeding') return
    this.#lastResponse = response
    this.#send(response)
    if (response.status < 200) {
      this.#move('Proceeding')
      return
    }
    // "If the TU passes a final response (status codes 200-699) to the server while in the
    // 'Proceeding' state, the transaction MUST enter the 'Completed' state ... When the server
    // transaction enters the 'Completed' state, it MUST set Timer J to fire in 64*T1 seconds for
    // unreliable transports, and zero seconds for reliable transports."
    this.#move('Completed')
    if (this.#ctx.timers.J === 0) this.#terminate()
    else this.#timers.start('J', this.#ctx.timers.J, () => this.#terminate())
  }

  #send(response: SipResponse): void {
    this.#ctx.send(response).catch((cause: unknown) => {
      if (this.#state === 'Terminated') return
      this.#terminate()
      this.#user.onTransportError?.(
        new SipTransactionError(TransactionErrorCode.transportError, 'response could not be sent', { cause }),
      )
    })
  }

  #move(to: TransactionState): void {
    if (this.#state !== to) this.#state = move(this, this.kind, this.#state, to)
  }

  #terminate(): void {
    if (this.#state === 'Terminated') return
    this.#timers.stopAll()
    this.#move('Terminated')
    this.#onTerminated()
  }

  dispose(): void {
    this.#terminate()
  }
}
