import type { SipMessage, SipRequest, SipResponse } from '../message/message.ts'
import { SipTransactionError, TransactionErrorCode } from './errors.ts'
import { NamedTimers } from './timers.ts'
import type { OnTerminated, TransactionContext } from './transaction-context.ts'
import { initialState, move, type TransactionKind, type TransactionState } from './transaction-state.ts'

/** What every transaction may tell its transaction user: a transport failure (RFC 3261 §17.1.4, §17.2.4). */
export interface TransactionUserBase {
  onTransportError?(error: SipTransactionError): void
}

/**
 * What the four RFC 3261 §17 machines share: their request, context, user and named timers, the
 * state with its checked moves (figures 5 to 8, RFC 6026 §7), termination, and sending through the
 * transport with the §17.1.4 / §17.2.4 reaction to a failure. Each machine adds its own events.
 */
export abstract class Transaction<U extends TransactionUserBase, T extends string> {
  /** Which machine; fixes the initial state and the legal moves. */
  abstract readonly kind: TransactionKind
  // Released once the machine only waits to absorb retransmissions (Accepted, Completed,
  // Confirmed): it then lingers for up to 64·T1 (32 s) per RFC 3261 and RFC 6026, and a parsed
  // request kept that long for nothing is most of what a call leaves on the heap
  // (docs/benchmarks/signalling.md).
  #request: SipRequest | undefined
  // Undefined until the first move: the initial state follows from `kind`, which the subclass sets
  // after this constructor has run.
  #state: TransactionState | undefined
  protected readonly ctx: TransactionContext
  protected user: U
  protected readonly timers: NamedTimers<T>
  readonly #onTerminated: OnTerminated

  /** `onTerminated` is called once the machine reaches Terminated, so the layer forgets it. */
  constructor(request: SipRequest, ctx: TransactionContext, user: U, onTerminated: OnTerminated) {
    this.#request = request
    this.ctx = ctx
    this.user = user
    this.#onTerminated = onTerminated
    this.timers = new NamedTimers(ctx.clock)
  }

  /** The request; undefined once the machine no longer sends or answers it (see {@link releaseRequest}). */
  get request(): SipRequest | undefined {
    return this.#request
  }

  /** The request in a state that still sends or answers it; missing there is a bug in the machine. */
  protected get liveRequest(): SipRequest {
    const r = this.#request
    if (r === undefined) throw new Error(`${this.kind} transaction used its request after releasing it`)
    return r
  }

  /** Drops the request: the machine only absorbs retransmissions from now on. */
  protected releaseRequest(): void {
    this.#request = undefined
  }

  get state(): TransactionState {
    return this.#state ?? initialState[this.kind]
  }

  /** Moves to `to` (no-op if already there); an illegal move throws, as it is a bug in the machine. */
  protected move(to: TransactionState): void {
    const from = this.state
    if (from !== to) this.#state = move(this, this.kind, from, to)
  }

  /** Stops every timer, enters Terminated and tells the layer, once. */
  protected terminate(): void {
    if (this.#state === 'Terminated') return
    this.timers.stopAll()
    this.move('Terminated')
    this.releaseRequest()
    this.#onTerminated()
  }

  /** Ends the transaction at once (shutdown). */
  dispose(): void {
    this.terminate()
  }

  /**
   * Hands `message` to the transport. RFC 3261 §17.1.4 (client) and §17.2.4 (server): on a
   * transport failure the transaction "SHOULD inform the TU ... and SHOULD transition directly to
   * the 'Terminated' state"; `failure` is the error message the TU gets.
   */
  protected send(message: SipMessage, failure: string): void {
    this.ctx.send(message, (cause) => {
      if (cause === undefined || this.#state === 'Terminated') return
      this.terminate()
      this.user.onTransportError?.(
        new SipTransactionError(TransactionErrorCode.transportError, failure, { cause }),
      )
    })
  }
}

/**
 * What the two server machines add (RFC 3261 §17.2.1, §17.2.2): the last response, re-sent when
 * the request is retransmitted while Proceeding or Completed.
 */
export abstract class ServerTransaction<U extends TransactionUserBase, T extends string> extends Transaction<
  U,
  T
> {
  #lastResponse: SipResponse | undefined
  #lastToTag: string | undefined
  /** Request retransmissions absorbed (answered from the transaction or dropped). */
  absorbed = 0
  /** Response retransmissions sent. */
  retransmissions = 0

  /** The last response passed to the transport, while it may still be repeated (see {@link releaseLastResponse}). */
  get lastResponse(): SipResponse | undefined {
    return this.#lastResponse
  }

  /** The To tag of the last response, kept after the response itself is released (CANCEL's 200 repeats it). */
  get lastToTag(): string | undefined {
    return this.#lastToTag
  }

  /** Records `response` as the one to repeat, and sends it. */
  protected sendResponse(response: SipResponse): void {
    this.#lastResponse = response
    this.#lastToTag = response.toTag
    this.resend(response)
  }

  /** Drops the last response once it will not be repeated (Accepted, Confirmed, Terminated). */
  protected releaseLastResponse(): void {
    this.#lastResponse = undefined
  }

  protected override releaseRequest(): void {
    super.releaseRequest()
    if (this.state === 'Terminated') this.#lastResponse = undefined
  }

  /** Sends a response without recording it (retransmissions, RFC 6026 §7.1 2xx in Accepted). */
  protected resend(response: SipResponse): void {
    this.send(response, 'response could not be sent')
  }

  /**
   * A retransmission of the request matched this transaction (§17.2.3). §17.2.1 (INVITE): "If a
   * request retransmission is received while in the 'Proceeding' state, the most recent
   * provisional response that was received from the TU MUST be passed to the transport layer for
   * retransmission" and in 'Completed' "the server SHOULD pass the response to the transport for
   * retransmission"; RFC 6026 §7.1: in Accepted they are absorbed. §17.2.2 (non-INVITE): "Once in
   * the 'Trying' state, any further request retransmissions are discarded" and in 'Proceeding' and
   * 'Completed' the last response "MUST be passed to the transport layer for retransmission".
   */
  receiveRequest(_request: SipRequest): void {
    this.absorbed++
    const state = this.state
    if ((state === 'Proceeding' || state === 'Completed') && this.#lastResponse) {
      this.retransmissions++
      this.resend(this.#lastResponse)
    }
  }
}
