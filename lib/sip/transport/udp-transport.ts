import type { RemoteInfo, Socket } from 'node:dgram'
import { lookup as dnsLookup, type LookupOneOptions } from 'node:dns'
import { isIP } from 'node:net'
import DgramAsPromised, { type SocketAsPromised } from 'dgram-as-promised'
import { type Logger, nullLogger } from '../../observability/logger.ts'
import { SipTransportError, TransportErrorCode } from './errors.ts'
import {
  type Destination,
  familyOf,
  type SendDone,
  type Transport,
  type TransportAddress,
  type TransportDelegate,
} from './transport.ts'
import { TransportCounters } from './transport-counters.ts'

/** Options of {@link UdpTransport.listen}. */
export interface UdpTransportOptions {
  /** Local address to bind: an IPv4 or IPv6 literal. */
  readonly address: string
  /** Local port; 0 picks a free one. */
  readonly port: number
  readonly delegate: TransportDelegate
  readonly logger?: Logger
  /** SO_RCVBUF in bytes, for bursts of signalling; the OS default when unset. */
  readonly receiveBufferSize?: number
}

/**
 * `dgram` passes every destination through its `lookup`, `dns.lookup` by default, which answers
 * even an IP literal only on the next tick. The SBC sends to addresses it has already resolved
 * (RFC 3263 happens before the transport), so a literal is answered at once: 3–5 µs less CPU per
 * datagram (docs/benchmarks/signalling.md). Names still go to `dns.lookup`.
 */
function literalFirstLookup(
  address: string,
  family: number | LookupOneOptions,
  callback: (err: NodeJS.ErrnoException | null, address: string, family: number) => void,
): void {
  const literal = isIP(address)
  if (literal !== 0) callback(null, address, literal)
  else if (typeof family === 'number') dnsLookup(address, family, callback)
  else dnsLookup(address, family, callback)
}

/**
 * SIP over UDP (RFC 3261 §18). Each datagram is one message (§18.3: "each UDP datagram ... carries
 * one request or response").
 *
 * @remarks
 * The socket's lifecycle (bind, close) goes through `dgram-as-promised`, the customer's choice. The
 * hot path does not: received datagrams come from the raw socket's `message` event (its `recv()`
 * adds and removes listeners per packet), and `send` calls the raw socket with our own callback,
 * because `SocketAsPromised.send` also rejects with any stale asynchronous socket error left from an
 * earlier, unrelated send. docs/benchmarks/sip-transport.md has the figures.
 */
export class UdpTransport implements Transport {
  readonly protocol = 'udp' as const
  readonly reliable = false
  readonly counters = new TransportCounters()
  readonly local: TransportAddress
  readonly #socket: Socket
  readonly #managed: SocketAsPromised
  readonly #delegate: TransportDelegate
  readonly #logger: Logger
  #closed = false

  private constructor(managed: SocketAsPromised, local: TransportAddress, options: UdpTransportOptions) {
    this.#managed = managed
    this.#socket = managed.socket
    this.local = local
    this.#delegate = options.delegate
    this.#logger = options.logger ?? nullLogger
    this.#socket.on('message', (bytes, rinfo) => this.#onMessage(bytes, rinfo))
    // A UDP socket error (e.g. ICMP-induced) must never crash the process or close the listener.
    this.#socket.on('error', (error) => this.#logger.warn({ err: error }, 'UDP socket reported an error'))
  }

  /** Binds a UDP socket and starts delivering datagrams to the delegate. */
  static async listen(options: UdpTransportOptions): Promise<UdpTransport> {
    const family = familyOf(options.address)
    // ipv6Only keeps an IPv6 listener from also taking IPv4 traffic (it is EINVAL on udp4).
    const managed = DgramAsPromised.createSocket(
      family === 'IPv6'
        ? { type: 'udp6', ipv6Only: true, lookup: literalFirstLookup }
        : { type: 'udp4', lookup: literalFirstLookup },
    )
    try {
      const bound = await managed.bind(options.port, options.address)
      if (options.receiveBufferSize) managed.setRecvBufferSize(options.receiveBufferSize)
      return new UdpTransport(
        managed,
        { transport: 'udp', address: bound.address, port: bound.port, family },
        options,
      )
    } catch (cause) {
      managed.destroy()
      throw new SipTransportError(
        TransportErrorCode.listenFailed,
        `cannot bind UDP ${options.address}:${options.port}`,
        { cause },
      )
    }
  }

  #onMessage(bytes: Buffer, rinfo: RemoteInfo): void {
    this.counters.messagesIn++
    this.counters.bytesIn += bytes.length
    try {
      this.#delegate.onMessage({
        bytes,
        source: { transport: 'udp', address: rinfo.address, port: rinfo.port, family: rinfo.family },
        local: this.local,
      })
    } catch (error) {
      this.#logger.error({ err: error }, 'Transport delegate threw; message dropped')
    }
  }

  send(bytes: Buffer, destination: Destination): Promise<void> {
    return new Promise<void>((resolve, reject) =>
      this.transmit(bytes, destination, (error) => (error ? reject(error) : resolve())),
    )
  }

  // The hot path: one datagram per message, and the transaction layer only wants to hear of a
  // failure, so no promise is made per datagram (dgram's callback already comes on a later tick).
  transmit(bytes: Buffer, destination: Destination, done: SendDone): void {
    if (this.#closed) {
      const error = new SipTransportError(TransportErrorCode.sendFailed, 'UDP transport is closed')
      queueMicrotask(() => done(error))
      return
    }
    try {
      this.#socket.send(bytes, destination.port, destination.address, (error) => {
        if (error) {
          this.counters.sendErrors++
          done(this.#sendFailed(destination, error))
        } else {
          this.counters.messagesOut++
          this.counters.bytesOut += bytes.length
          done()
        }
      })
    } catch (cause) {
      // dgram throws synchronously for a bad port or a socket closed underneath; the caller hears
      // of it on a later tick like any other failure.
      const error = this.#sendFailed(destination, cause)
      queueMicrotask(() => done(error))
    }
  }

  #sendFailed(destination: Destination, cause: unknown): SipTransportError {
    return new SipTransportError(
      TransportErrorCode.sendFailed,
      `UDP send to ${destination.address}:${destination.port} failed`,
      { cause },
    )
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await this.#managed.close()
  }
}
