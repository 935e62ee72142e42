import { type Logger, nullLogger } from '../../observability/logger.ts'
import { createResponse } from '../message/create-response.ts'
import { getParam } from '../message/headers/params.ts'
import type { SipMessage, SipRequest, SipResponse } from '../message/message.ts'
import type { Destination, SendDone } from '../transport/transport.ts'
import { SipTransactionError, TransactionErrorCode } from './errors.ts'
import { InviteClientTransaction, type InviteClientUser } from './invite-client.ts'
import { InviteServerTransaction, type InviteServerUser } from './invite-server.ts'
import { NonInviteClientTransaction, type NonInviteClientUser } from './non-invite-client.ts'
import { NonInviteServerTransaction } from './non-invite-server.ts'
import {
  type Clock,
  defaultTimerSettings,
  systemClock,
  type TimerSettings,
  type TimerValues,
  timerValues,
} from './timers.ts'
import type { TransactionContext } from './transaction-context.ts'
import {
  clientTransactionKey,
  inviteAckKey,
  MAGIC_COOKIE,
  responseClientKey,
  serverTransactionKey,
} from './transaction-key.ts'

/** A server transaction of either kind. */
export type ServerTransaction = InviteServerTransaction | NonInviteServerTransaction
/** A client transaction of either kind. */
export type ClientTransaction = InviteClientTransaction | NonInviteClientTransaction

/** What the layer calls upward (the transaction user: UAS core, B2BUA). Typed, not string events. */
export interface TransactionLayerDelegate {
  /** A new request (not a retransmission, ACK or CANCEL) with the server transaction to answer it on. */
  onRequest(request: SipRequest, transaction: ServerTransaction): void
  /** An ACK that matched no server transaction: the ACK for a 2xx, which belongs to the TU. */
  onAck?(ack: SipRequest): void
  /**
   * A CANCEL with its own server transaction and the INVITE transaction it cancels, if any
   * (RFC 3261 §9.2). Without this hook the layer answers as §9.2 says: 481 when nothing matches,
   * else 200 to the CANCEL and 487 to the INVITE if it has no final response yet.
   */
  onCancel?(
    cancel: SipRequest,
    transaction: NonInviteServerTransaction,
    invite: InviteServerTransaction | undefined,
  ): void
  /** A response that matched no client transaction (e.g. a 2xx retransmission after Timer M). */
  onStrayResponse?(response: SipResponse): void
}

/** Options of {@link TransactionLayer}. */
export interface TransactionLayerOptions {
  /**
   * Serialises and sends one message, telling `done` of a failure (once, never synchronously); the
   * endpoint provides it (`SipEndpoint.transmit`).
   */
  send(message: SipMessage, destination: Destination, done: SendDone): void
  readonly delegate: TransactionLayerDelegate
  readonly clock?: Clock
  readonly timers?: TimerSettings
  /** Delay before the automatic 100 Trying to an INVITE; 0 sends it at once. See {@link InviteServerTransaction.scheduleTrying}. */
  readonly tryingDelayMs?: number
  readonly logger?: Logger
}

/** Plain counters of the transaction layer, read by observability. */
export class TransactionCounters {
  serverTransactionsCreated = 0
  clientTransactionsCreated = 0
  /** Requests that matched an existing server transaction (retransmissions, ACKs of non-2xx). */
  requestRetransmissionsAbsorbed = 0
  /** Responses that matched a client transaction after it had its final response. */
  responseRetransmissionsAbsorbed = 0
  strayResponses = 0
  timeouts = 0
}

/**
 * The RFC 3261 §17 transaction layer: creates server transactions for new requests, matches
 * retransmissions, ACKs and CANCELs to them (§17.2.3, §9.2), runs client transactions and matches
 * responses to them (§17.1.3).
 */
export class TransactionLayer {
  readonly counters = new TransactionCounters()
  readonly #servers = new Map<string, ServerTransaction>()
  readonly #clients = new Map<string, ClientTransaction>()
  /** Accepted INVITE server transactions by Call-ID, CSeq and From tag, for the ACK of their 2xx. */
  readonly #accepted = new Map<string, InviteServerTransaction>()
  readonly #send: TransactionLayerOptions['send']
  readonly #delegate: TransactionLayerDelegate
  readonly #clock: Clock
  // Resolved once: every transaction of a kind of transport shares them (they are read-only).
  readonly #reliableTimers: TimerValues
  readonly #unreliableTimers: TimerValues
  readonly #tryingDelayMs: number
  readonly #logger: Logger

  constructor(options: TransactionLayerOptions) {
    this.#send = options.send
    this.#delegate = options.delegate
    this.#clock = options.clock ?? systemClock
    const timers = options.timers ?? defaultTimerSettings
    this.#reliableTimers = timerValues(timers, true)
    this.#unreliableTimers = timerValues(timers, false)
    this.#tryingDelayMs = options.tryingDelayMs ?? 0
    this.#logger = options.logger ?? nullLogger
  }

  /** Live server transactions. */
  get serverCount(): number {
    return this.#servers.size
  }

  /** Live client transactions. */
  get clientCount(): number {
    return this.#clients.size
  }

  #context(destination: Destination): TransactionContext {
    const reliable = destination.transport !== 'udp'
    return {
      send: (message, done) => this.#send(message, destination, done),
      clock: this.#clock,
      timers: reliable ? this.#reliableTimers : this.#unreliableTimers,
      reliable,
    }
  }

  /**
   * Handles an inbound request. `responseDestination` is where responses go (RFC 3261 §18.2.2,
   * see `responseDestination()` in lib/sip/transport).
   */
  receiveRequest(request: SipRequest, responseDestination: Destination): void {
    const key = serverTransactionKey(request)
    if (key === undefined) return // no Via: the endpoint rejects such requests before this
    const existing = this.#servers.get(key)
    if (request.method === 'ACK') {
      this.#receiveAck(request, existing)
      return
    }
    if (existing) {
      this.counters.requestRetransmissionsAbsorbed++
      existing.receiveRequest(request)
      return
    }
    const ctx = this.#context(responseDestination)
    const forget = () => {
      if (this.#servers.get(key) === tx) this.#servers.delete(key)
    }
    let tx: ServerTransaction
    if (request.method === 'INVITE') {
      const ackKey = inviteAckKey(request)
      const user: InviteServerUser = {
        onTimeout: () => {
          this.counters.timeouts++
        },
        onAccepted: () => this.#accepted.set(ackKey, ist),
      }
      const ist = new InviteServerTransaction(request, ctx, user, () => {
        forget()
        if (this.#accepted.get(ackKey) === ist) this.#accepted.delete(ackKey)
      })
      tx = ist
      this.#servers.set(key, tx)
      this.counters.serverTransactionsCreated++
      ist.scheduleTrying(createResponse(request, 100), this.#tryingDelayMs)
    } else {
      tx = new NonInviteServerTransaction(request, ctx, {}, forget)
      this.#servers.set(key, tx)
      this.counters.serverTransactionsCreated++
    }
    if (request.method === 'CANCEL' && tx.kind === 'non-invite-server') {
      this.#receiveCancel(request, tx)
      return
    }
    this.#delegate.onRequest(request, tx)
  }

  #receiveAck(ack: SipRequest, existing: ServerTransaction | undefined): void {
    if (existing?.kind === 'invite-server' && existing.state !== 'Accepted') {
      const branch = ack.topVia ? getParam(ack.topVia.params, 'branch') : undefined
      const rfc3261 = typeof branch === 'string' && branch.startsWith(MAGIC_COOKIE)
      // RFC 2543 rule (§17.2.3): "the ACK matches ... if the To tag ... matches the tag of the
      // response sent by the server transaction".
      if (rfc3261 || existing.lastToTag === ack.toTag) {
        this.counters.requestRetransmissionsAbsorbed++
        existing.receiveAck(ack)
        return
      }
    }
    // The ACK of a 2xx is its own transaction and goes to the TU (RFC 3261 §17.1.1.3, RFC 6026 §7.1).
    this.#accepted.get(inviteAckKey(ack))?.acknowledge2xx()
    this.#delegate.onAck?.(ack)
  }

  /**
   * RFC 3261 §9.2 (https://www.rfc-editor.org/rfc/rfc3261#section-9.2): "The CANCEL method requests
   * that the TU at the server side cancel a pending transaction. The TU determines the transaction
   * to be cancelled by taking the CANCEL request, and then assuming that the request method is
   * anything but CANCEL or ACK and applying the transaction matching procedures of Section 17.2.3."
   */
  #receiveCancel(cancel: SipRequest, tx: NonInviteServerTransaction): void {
    const inviteKey = serverTransactionKey(cancel, 'INVITE')
    const found = inviteKey === undefined ? undefined : this.#servers.get(inviteKey)
    const invite = found?.kind === 'invite-server' ? found : undefined
    if (this.#delegate.onCancel) {
      this.#delegate.onCancel(cancel, tx, invite)
      return
    }
    if (!invite) {
      // "If the UAS did not find a matching transaction for the CANCEL according to the procedure
      // above, it SHOULD respond to the CANCEL with a 481 (Call Leg/Transaction Does Not Exist)."
      tx.respond(createResponse(cancel, 481))
      return
    }
    // "the response to the CANCEL ... a UAS ... SHOULD respond to the INVITE with a 487 (Request
    // Terminated)" when no final response was sent yet; "the CANCEL request itself is answered with
    // a 200 (OK) response" either way.
    tx.respond(createResponse(cancel, 200, tagOf(invite)))
    const request = invite.request
    if (invite.state === 'Proceeding' && request) invite.respond(createResponse(request, 487, tagOf(invite)))
  }

  /** Handles an inbound response: to its client transaction, or to the delegate as stray. */
  receiveResponse(response: SipResponse): void {
    const key = responseClientKey(response)
    const tx = key === undefined ? undefined : this.#clients.get(key)
    if (!tx) {
      this.counters.strayResponses++
      this.#delegate.onStrayResponse?.(response)
      return
    }
    if (tx.state === 'Completed') this.counters.responseRetransmissionsAbsorbed++
    tx.receiveResponse(response)
  }

  /**
   * Starts a client transaction for `request` (INVITE or non-INVITE; not ACK). The request's top Via
   * must carry an RFC 3261 branch (§8.1.1.7).
   */
  sendRequest(
    request: SipRequest,
    destination: Destination,
    user: InviteClientUser | NonInviteClientUser,
  ): ClientTransaction {
    const branch = request.topVia ? getParam(request.topVia.params, 'branch') : undefined
    if (typeof branch !== 'string' || !branch.startsWith(MAGIC_COOKIE) || request.method === 'ACK') {
      throw new SipTransactionError(
        TransactionErrorCode.badMessage,
        'a client transaction needs a non-ACK request with a z9hG4bK branch',
      )
    }
    const key = clientTransactionKey(branch, request.method)
    const ctx = this.#context(destination)
    const forget = () => {
      if (this.#clients.get(key) === tx) this.#clients.delete(key)
    }
    const tx: ClientTransaction =
      request.method === 'INVITE'
        ? new InviteClientTransaction(request, ctx, user, forget)
        : new NonInviteClientTransaction(request, ctx, user, forget)
    this.#clients.set(key, tx)
    this.counters.clientTransactionsCreated++
    tx.start()
    return tx
  }

  /** Terminates every transaction (shutdown). */
  dispose(): void {
    for (const tx of [...this.#servers.values(), ...this.#clients.values()]) tx.dispose()
    this.#accepted.clear()
    this.#logger.debug({}, 'Disposed transaction layer')
  }
}

/** Keeps the To tag of earlier responses of the INVITE, so CANCEL's 200 and the 487 carry the same one. */
function tagOf(invite: InviteServerTransaction): { toTag?: string } {
  const tag = invite.lastToTag
  return tag === undefined ? {} : { toTag: tag }
}
