/** The SIP transport protocols this stack speaks (RFC 3261 §18). */
export type TransportProtocol = 'udp' | 'tcp' | 'tls'

/** IP family of an address, as node:net reports it. */
export type AddressFamily = 'IPv4' | 'IPv6'

/** One side of a flow: transport, IP address, port. */
export interface TransportAddress {
  readonly transport: TransportProtocol
  readonly address: string
  readonly port: number
  readonly family: AddressFamily
}

/** Where to send bytes. `connectionId` pins a stream send to one existing connection. */
export interface Destination {
  readonly transport: TransportProtocol
  readonly address: string
  readonly port: number
  /** Prefer this connection (stream transports); falls back to any connection to address:port. */
  readonly connectionId?: string
  /** TLS SNI name for an outbound connection; defaults to `address` when it is a host name. */
  readonly serverName?: string
  /**
   * Send from the listener bound to this local address and port (an SBC has several interfaces;
   * a response leaves by the one its request came in on). Any listener of the protocol otherwise.
   */
  readonly local?: { readonly address: string; readonly port: number }
}

/** What a TLS peer proved about itself during the handshake. */
export interface TlsPeerInfo {
  /** Subject CN and DNS subjectAltNames of the peer certificate, CN first; empty without one. */
  readonly peerCertificateNames: string[]
  /** Whether the peer certificate chains to a trusted CA (always true when mTLS is enforced). */
  readonly authorized: boolean
  /** Inbound only: the SNI host name the client asked for, if any (which interface it meant). */
  readonly serverName?: string
}

/** One SIP message's worth of bytes received by a transport. */
export interface InboundMessage {
  readonly bytes: Buffer
  readonly source: TransportAddress
  readonly local: TransportAddress
  /** Set for stream transports: the connection the bytes arrived on, for reuse by responses. */
  readonly connectionId?: string
  readonly tls?: TlsPeerInfo
}

/** What a transport calls upward. It must not throw; the transport guards anyway. */
export interface TransportDelegate {
  onMessage(message: InboundMessage): void
}

/**
 * A bound SIP transport. The SIP core never touches sockets: it hands bytes and a destination to
 * `send`, and receives framed messages through the delegate (STYLE.md §5.6).
 */
export interface Transport {
  readonly protocol: TransportProtocol
  /** The bound local address (after `listen`). */
  readonly local: TransportAddress
  /** Whether the transport delivers in order and reliably (RFC 3261 §17: timers E/G/A are skipped). */
  readonly reliable: boolean
  /** Sends one whole message. Rejects with a `SipTransportError`; never throws synchronously. */
  send(bytes: Buffer, destination: Destination): Promise<void>
  /**
   * {@link send} without a promise, for senders that only need to hear of a failure (transactions):
   * `done` is called once, never synchronously, with nothing on success or the `SipTransportError`.
   */
  transmit(bytes: Buffer, destination: Destination, done: SendDone): void
  /** Closes listeners and all connections. Idempotent. */
  close(): Promise<void>
}

/**
 * How a callback-style send reports: undefined on success, else the error. Called once and never
 * synchronously, so a sender sees the same order of events as with a rejected promise.
 */
export type SendDone = (error?: Error) => void

/** `IPv6` when the address contains a colon, else `IPv4`. */
export function familyOf(address: string): AddressFamily {
  return address.includes(':') ? 'IPv6' : 'IPv4'
}
