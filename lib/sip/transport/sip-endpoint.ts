import { type Logger, nullLogger } from '../../observability/logger.ts'
import { SipParseError } from '../errors.ts'
import { createResponse } from '../message/create-response.ts'
import { setParam } from '../message/headers/params.ts'
import type { Via } from '../message/headers/via.ts'
import type { SipMessage, SipRequest, SipResponse } from '../message/message.ts'
import { parse, type SipParseOptions } from '../message/parse.ts'
import { serialize } from '../message/serialize.ts'
import { SipTransportError, TransportErrorCode } from './errors.ts'
import { responseDestination, viaReceivedParams } from './response-destination.ts'
import { StreamTransport, type StreamTransportOptions } from './stream-transport.ts'
import type { TlsSettings } from './tls-settings.ts'
import type {
  Destination,
  InboundMessage,
  SendDone,
  TlsPeerInfo,
  Transport,
  TransportAddress,
} from './transport.ts'
import { familyOf } from './transport.ts'
import { UdpTransport } from './udp-transport.ts'

/** One listener of an endpoint. */
export type ListenSpec =
  | {
      readonly protocol: 'udp'
      readonly address: string
      readonly port: number
      readonly receiveBufferSize?: number
    }
  | Omit<StreamTransportOptions, 'delegate' | 'logger'>

/** Where an inbound message came from and, for requests, where its responses go. */
export interface InboundContext {
  readonly source: TransportAddress
  readonly local: TransportAddress
  readonly connectionId?: string
  readonly tls?: TlsPeerInfo
  /** RFC 3261 §18.2.2 / RFC 3581 destination for responses (requests only). */
  readonly responseDestination: Destination
}

/** What the endpoint calls upward with parsed messages (typed delegate, STYLE.md §5.6). */
export interface SipEndpointDelegate {
  onRequest(request: SipRequest, context: InboundContext): void
  onResponse(response: SipResponse, context: InboundContext): void
}

/** Options of {@link SipEndpoint.start}. */
export interface SipEndpointOptions {
  readonly listen: readonly ListenSpec[]
  readonly delegate: SipEndpointDelegate
  readonly parse?: SipParseOptions
  readonly logger?: Logger
}

/** Plain counters of the endpoint (the transports keep their own). */
export class EndpointCounters {
  requestsIn = 0
  responsesIn = 0
  /** Malformed requests answered statelessly with 400/505/513 (RFC 3261 §8.2, §21.4.1). */
  malformedRequestsAnswered = 0
  /** Unparseable bytes dropped without an answer (RFC 3261 §18.1.2/§18.2.1: discard silently). */
  garbageDropped = 0
  /** Sends that failed (no transport, or the transport rejected). */
  sendErrors = 0
}

/**
 * Binds transports to the parser: frames and parses inbound bytes, applies the server transport
 * rules of RFC 3261 §18.2.1 (received, rport), answers malformed requests with the parser's 400,
 * and serialises outbound messages onto the right transport.
 */
export class SipEndpoint {
  readonly counters = new EndpointCounters()
  readonly transports: readonly Transport[]
  readonly #delegate: SipEndpointDelegate
  /** The parse options for datagrams and for stream transports, made once (not per message). */
  readonly #parseDatagram: SipParseOptions
  readonly #parseStream: SipParseOptions
  readonly #logger: Logger

  private constructor(transports: Transport[], options: SipEndpointOptions) {
    this.transports = transports
    this.#delegate = options.delegate
    this.#parseDatagram = { ...options.parse, stream: false }
    this.#parseStream = { ...options.parse, stream: true }
    this.#logger = options.logger ?? nullLogger
  }

  /** Opens every listener; if one fails, closes the others and rejects. */
  static async start(options: SipEndpointOptions): Promise<SipEndpoint> {
    const transports: Transport[] = []
    let endpoint: SipEndpoint | undefined
    // Anything arriving before every listener is up is dropped (as if lost on the wire).
    const delegate = {
      onMessage: (m: InboundMessage) => {
        if (endpoint) endpoint.#onMessage(m)
      },
    }
    const logger = options.logger ?? nullLogger
    try {
      for (const spec of options.listen) {
        transports.push(
          spec.protocol === 'udp'
            ? await UdpTransport.listen({ ...spec, delegate, logger })
            : await StreamTransport.listen({ ...spec, delegate, logger }),
        )
      }
    } catch (error) {
      await Promise.all(transports.map((t) => t.close()))
      throw error
    }
    endpoint = new SipEndpoint(transports, options)
    return endpoint
  }

  /**
   * The transport for a protocol and address family, preferring the listener bound to `local`;
   * undefined if none listens.
   */
  transportFor(
    protocol: Destination['transport'],
    address: string,
    local?: Destination['local'],
  ): Transport | undefined {
    const family = familyOf(address)
    // A loop, not filter + find: this runs for every message sent, and the array and closures were
    // ~1.3 kB per call of garbage (sampling heap profiler).
    let first: Transport | undefined
    for (let i = 0; i < this.transports.length; i++) {
      const t = this.transports[i]!
      if (t.protocol !== protocol || t.local.family !== family) continue
      if (local !== undefined && t.local.port === local.port && t.local.address === local.address) return t
      first ??= t
    }
    return first
  }

  /** Serialises `message` and sends it. Rejects with a {@link SipTransportError}. */
  send(message: SipMessage, destination: Destination): Promise<void> {
    return this.sendBytes(serialize(message), destination)
  }

  /**
   * Sends a message serialised earlier: what a caller keeps to repeat for a while (the ACK of a 2xx)
   * costs its bytes on the heap, not a message object. Rejects with a {@link SipTransportError}.
   */
  sendBytes(bytes: Buffer, destination: Destination): Promise<void> {
    return new Promise<void>((resolve, reject) =>
      this.transmitBytes(bytes, destination, (error) => (error ? reject(error) : resolve())),
    )
  }

  /**
   * {@link send} for callers that only need to hear of a failure (the transaction layer): no
   * promise per message. `done` gets the {@link SipTransportError}, never synchronously; a message
   * that cannot be serialised still throws here, as `send` does.
   */
  transmit(message: SipMessage, destination: Destination, done: SendDone): void {
    this.transmitBytes(serialize(message), destination, done)
  }

  /** {@link sendBytes} with a callback, as {@link transmit}. */
  transmitBytes(bytes: Buffer, destination: Destination, done: SendDone): void {
    const transport = this.transportFor(destination.transport, destination.address, destination.local)
    if (!transport) {
      this.counters.sendErrors++
      const error = new SipTransportError(
        TransportErrorCode.sendFailed,
        `no ${destination.transport} transport for ${destination.address}`,
      )
      queueMicrotask(() => done(error))
      return
    }
    transport.transmit(bytes, destination, (error) => {
      if (error) this.counters.sendErrors++
      done(error)
    })
  }

  #onMessage(inbound: InboundMessage): void {
    let message: SipMessage
    try {
      message = parse(
        inbound.bytes,
        inbound.source.transport === 'udp' ? this.#parseDatagram : this.#parseStream,
      )
    } catch (error) {
      this.#onParseError(error, inbound)
      return
    }
    if (message.kind === 'request') this.#onRequest(message, inbound)
    else {
      this.counters.responsesIn++
      this.#delegate.onResponse(message, this.#context(inbound, undefined))
    }
  }

  #context(inbound: InboundMessage, destination: Destination | undefined): InboundContext {
    return {
      source: inbound.source,
      local: inbound.local,
      ...(inbound.connectionId === undefined ? {} : { connectionId: inbound.connectionId }),
      ...(inbound.tls === undefined ? {} : { tls: inbound.tls }),
      responseDestination: destination ?? { ...inbound.source },
    }
  }

  #onRequest(request: SipRequest, inbound: InboundMessage): void {
    const top = request.topVia
    if (!top) {
      // The parser requires Via; this guards a future relaxation. Nowhere to answer: drop.
      this.counters.garbageDropped++
      return
    }
    // Responses leave by the listener the request came in on (same source address and port).
    const destination: Destination = {
      ...responseDestination(top, inbound.source, inbound.connectionId),
      local: { address: inbound.local.address, port: inbound.local.port },
    }
    const { received, rport } = viaReceivedParams(top, inbound.source)
    if (received !== undefined || rport !== undefined) {
      // RFC 3261 §18.2.1 / RFC 3581 §4: record where the request really came from in the top Via.
      const params = top.params.map((p): [string, string | null] => [p[0], p[1]])
      if (received !== undefined) setParam(params, 'received', received)
      if (rport !== undefined) setParam(params, 'rport', String(rport))
      const updated: Via = { ...top, params }
      request.removeTopVia()
      request.prependVia(updated)
    }
    this.counters.requestsIn++
    this.#delegate.onRequest(request, this.#context(inbound, destination))
  }

  #onParseError(error: unknown, inbound: InboundMessage): void {
    if (!(error instanceof SipParseError)) {
      this.counters.garbageDropped++
      this.#logger.error({ err: error }, 'Parser threw an unexpected error; message dropped')
      return
    }
    const request = error.request
    const top = request?.topVia
    if (request && error.respondable && error.status !== undefined && top) {
      // RFC 3261 §8.2.1 ff.: a malformed request that can still be answered gets a 4xx whose reason
      // phrase names the problem ("Bad Request - Malformed Via"), sent statelessly.
      this.counters.malformedRequestsAnswered++
      const response = createResponse(request, error.status, { reason: error.reasonPhrase })
      const destination: Destination = {
        ...responseDestination(top, inbound.source, inbound.connectionId),
        local: { address: inbound.local.address, port: inbound.local.port },
      }
      this.send(response, destination).catch((e: unknown) =>
        this.#logger.debug({ err: e }, 'Could not answer a malformed request'),
      )
      return
    }
    this.counters.garbageDropped++
    this.#logger.debug({ reason: error.reason, source: inbound.source }, 'Dropped unparseable message')
  }

  /**
   * Gives every TLS listener of the endpoint new TLS material ({@link StreamTransport.setTls}):
   * new connections use it, established ones keep theirs. Throws {@link SipTransportError} and
   * changes nothing when the material is refused.
   */
  setTls(settings: TlsSettings): void {
    const tls = this.transports.filter(
      (t): t is StreamTransport => t instanceof StreamTransport && t.protocol === 'tls',
    )
    // Same material for every listener: the first one checks it before any is changed.
    for (const t of tls) t.setTls(settings)
  }

  /** Closes every transport. */
  async close(): Promise<void> {
    await Promise.all(this.transports.map((t) => t.close()))
  }
}
