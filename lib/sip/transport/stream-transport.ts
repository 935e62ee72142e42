import { randomUUID } from 'node:crypto'
import { createServer as createNetServer, connect as netConnect, type Server, type Socket } from 'node:net'
import {
  createSecureContext,
  createServer as createTlsServer,
  type TLSSocket,
  type Server as TlsServer,
  connect as tlsConnect,
} from 'node:tls'
import { type Logger, nullLogger } from '../../observability/logger.ts'
import { ConnectionTable, flowKey } from './connection-table.ts'
import { SipTransportError, TransportErrorCode } from './errors.ts'
import { peerCertificateNames } from './peer-certificate-names.ts'
import { TcpFramer } from './tcp-framer.ts'
import { type ResolvedTls, resolveTls, type TlsSettings } from './tls-settings.ts'
import type {
  Destination,
  SendDone,
  TlsPeerInfo,
  Transport,
  TransportAddress,
  TransportDelegate,
  TransportProtocol,
} from './transport.ts'
import { familyOf } from './transport.ts'
import { TransportCounters } from './transport-counters.ts'

/** Options of {@link StreamTransport.listen}. */
export interface StreamTransportOptions {
  readonly protocol: 'tcp' | 'tls'
  /** Local address to listen on: an IPv4 or IPv6 literal. */
  readonly address: string
  /** Local port; 0 picks a free one. */
  readonly port: number
  readonly delegate: TransportDelegate
  /** Required for `tls`. */
  readonly tls?: TlsSettings
  /** Close a connection after this long without traffic in either direction. Default 300 s. */
  readonly idleTimeoutMs?: number
  /** Inbound connections allowed from one source address at a time. Default 64. */
  readonly maxConnectionsPerSource?: number
  /** Largest message accepted on a connection; a larger one closes it. Default 65,535 bytes. */
  readonly maxMessageSize?: number
  /** Give up on an outbound connection (TCP connect plus TLS handshake) after this long. Default 10 s. */
  readonly connectTimeoutMs?: number
  readonly logger?: Logger
}

/** One open TCP or TLS connection. */
interface StreamConnection {
  readonly id: string
  readonly remoteAddress: string
  readonly remotePort: number
  readonly socket: Socket
  readonly source: TransportAddress
  readonly tls: TlsPeerInfo | undefined
}

const CRLF = Buffer.from('\r\n', 'latin1')

/**
 * SIP over TCP or TLS (RFC 3261 §18, RFC 5630 for TLS): a listener, outbound connection
 * establishment, a {@link ConnectionTable} for reuse, per-source limits, idle timeouts, RFC 5626
 * keep-alive pongs, and Content-Length framing through {@link TcpFramer}.
 */
export class StreamTransport implements Transport {
  readonly protocol: TransportProtocol
  readonly reliable = true
  readonly counters = new TransportCounters()
  readonly local: TransportAddress
  readonly connections = new ConnectionTable<StreamConnection>()
  readonly #server: Server
  readonly #delegate: TransportDelegate
  readonly #logger: Logger
  /** Replaced by {@link setTls}; each outbound connect and the listener read the current one. */
  #tls: ResolvedTls | undefined
  readonly #idleTimeoutMs: number
  readonly #maxPerSource: number
  readonly #maxMessageSize: number
  readonly #connectTimeoutMs: number
  /** Outbound connections being established, by flow, so concurrent sends share one. */
  readonly #connecting = new Map<string, Promise<StreamConnection>>()
  /** Raw sockets (also before the TLS handshake), per source address, for the per-source limit. */
  readonly #rawPerSource = new Map<string, number>()
  readonly #sockets = new Set<Socket>()
  #closed = false

  private constructor(
    server: Server,
    local: TransportAddress,
    options: StreamTransportOptions,
    tls?: ResolvedTls,
  ) {
    this.protocol = options.protocol
    this.#server = server
    this.local = local
    this.#delegate = options.delegate
    this.#logger = options.logger ?? nullLogger
    this.#tls = tls
    this.#idleTimeoutMs = options.idleTimeoutMs ?? 300_000
    this.#maxPerSource = options.maxConnectionsPerSource ?? 64
    this.#maxMessageSize = options.maxMessageSize ?? 65_535
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 10_000
  }

  /** Starts listening. Rejects with a {@link SipTransportError} if the address is taken or TLS files are bad. */
  static async listen(options: StreamTransportOptions): Promise<StreamTransport> {
    let tls: ResolvedTls | undefined
    if (options.protocol === 'tls') {
      if (!options.tls)
        throw new SipTransportError(TransportErrorCode.tlsConfig, 'a TLS transport needs tls settings')
      tls = resolveTls(options.tls)
    }
    const server: Server = tls ? createTlsServer({ ...tls.server }) : createNetServer({ noDelay: true })
    const family = familyOf(options.address)
    await new Promise<void>((resolve, reject) => {
      server.once('error', (cause) =>
        reject(
          new SipTransportError(
            TransportErrorCode.listenFailed,
            `cannot listen on ${options.address}:${options.port}`,
            {
              cause,
            },
          ),
        ),
      )
      server.listen({ host: options.address, port: options.port, ipv6Only: family === 'IPv6' }, resolve)
    })
    const addr = server.address()
    const port = typeof addr === 'object' && addr ? addr.port : options.port
    const transport = new StreamTransport(
      server,
      { transport: options.protocol, address: options.address, port, family },
      options,
      tls,
    )
    transport.#attach()
    return transport
  }

  #attach(): void {
    this.#server.on('error', (error) =>
      this.#logger.warn({ err: error }, 'Stream listener reported an error'),
    )
    // 'connection' fires with the raw socket, before any TLS handshake: the right place for limits.
    this.#server.on('connection', (socket: Socket) => this.#admit(socket))
    if (this.#tls) {
      this.#server.on('secureConnection', (socket: TLSSocket) => this.#register(socket, false))
      this.#server.on('tlsClientError', (error, socket) => {
        this.counters.handshakeFailures++
        this.#logger.info({ err: error, remote: socket.remoteAddress }, 'Rejected TLS handshake')
      })
    } else {
      this.#server.on('connection', (socket: Socket) => {
        if (!socket.destroyed) this.#register(socket, false)
      })
    }
  }

  #admit(socket: Socket): void {
    const address = socket.remoteAddress ?? ''
    const n = this.#rawPerSource.get(address) ?? 0
    if (this.#closed || n >= this.#maxPerSource) {
      this.counters.connectionsRejected++
      socket.destroy()
      return
    }
    this.#rawPerSource.set(address, n + 1)
    this.#sockets.add(socket)
    socket.once('close', () => {
      this.#sockets.delete(socket)
      const left = (this.#rawPerSource.get(address) ?? 1) - 1
      if (left > 0) this.#rawPerSource.set(address, left)
      else this.#rawPerSource.delete(address)
    })
    socket.on('error', () => {})
    socket.setTimeout(this.#idleTimeoutMs, () => {
      this.counters.idleTimeouts++
      socket.destroy()
    })
  }

  /** Puts an established (and, for TLS, handshaken) socket into service. */
  #register(socket: Socket, outbound: boolean): StreamConnection {
    socket.setNoDelay(true)
    const remoteAddress = socket.remoteAddress ?? ''
    const remotePort = socket.remotePort ?? 0
    const tlsSocket = this.#tls ? (socket as TLSSocket) : undefined
    const connection: StreamConnection = {
      id: randomUUID(),
      remoteAddress,
      remotePort,
      socket,
      source: {
        transport: this.protocol,
        address: remoteAddress,
        port: remotePort,
        family: familyOf(remoteAddress),
      },
      tls: tlsSocket ? tlsPeerInfo(tlsSocket, outbound) : undefined,
    }
    this.connections.add(connection)
    this.counters.connectionsOpened++
    const framer = new TcpFramer(
      {
        onMessage: (bytes) => this.#deliver(connection, bytes),
        onPing: () => {
          // RFC 5626 §4.4.1: "When a server receives a double CRLF (the 'ping') ... it MUST respond
          // with a single CRLF (the 'pong')".
          this.counters.keepAlivePings++
          socket.write(CRLF)
        },
        onError: (error) => {
          this.counters.framingErrors++
          this.#logger.info({ err: error, remote: remoteAddress }, 'Closed connection after a framing error')
          socket.destroy()
        },
      },
      { maxMessageSize: this.#maxMessageSize },
    )
    socket.on('data', (chunk: Buffer) => {
      this.counters.bytesIn += chunk.length
      framer.push(chunk)
    })
    socket.on('error', (error) =>
      this.#logger.debug({ err: error, remote: remoteAddress }, 'Connection error'),
    )
    socket.once('close', () => {
      framer.close()
      this.connections.remove(connection)
      this.counters.connectionsClosed++
    })
    if (outbound) {
      this.#sockets.add(socket)
      socket.once('close', () => this.#sockets.delete(socket))
      socket.setTimeout(this.#idleTimeoutMs, () => {
        this.counters.idleTimeouts++
        socket.destroy()
      })
    }
    return connection
  }

  #deliver(connection: StreamConnection, bytes: Buffer): void {
    this.counters.messagesIn++
    try {
      this.#delegate.onMessage({
        bytes,
        source: connection.source,
        local: this.local,
        connectionId: connection.id,
        ...(connection.tls ? { tls: connection.tls } : {}),
      })
    } catch (error) {
      this.#logger.error({ err: error }, 'Transport delegate threw; message dropped')
    }
  }

  /**
   * Sends on the connection pinned by `destination.connectionId`, else on any open connection to
   * address:port (including one the peer opened to us), else on a new outbound connection.
   */
  async send(bytes: Buffer, destination: Destination): Promise<void> {
    if (this.#closed) throw new SipTransportError(TransportErrorCode.sendFailed, 'transport is closed')
    const connection =
      this.connections.find(destination.address, destination.port, destination.connectionId) ??
      (await this.#connect(destination))
    await new Promise<void>((resolve, reject) => {
      connection.socket.write(bytes, (error) => {
        if (error) {
          this.counters.sendErrors++
          reject(
            new SipTransportError(TransportErrorCode.sendFailed, 'stream write failed', { cause: error }),
          )
        } else {
          this.counters.messagesOut++
          this.counters.bytesOut += bytes.length
          resolve()
        }
      })
    })
  }

  /** {@link send} with a callback (Transport.transmit); streams keep the promise inside. */
  transmit(bytes: Buffer, destination: Destination, done: SendDone): void {
    this.send(bytes, destination).then(() => done(), done)
  }

  #connect(destination: Destination): Promise<StreamConnection> {
    const key = flowKey(destination.address, destination.port)
    const pending = this.#connecting.get(key)
    if (pending) return pending
    const attempt = this.#open(destination).finally(() => this.#connecting.delete(key))
    this.#connecting.set(key, attempt)
    return attempt
  }

  #open(destination: Destination): Promise<StreamConnection> {
    return new Promise<StreamConnection>((resolve, reject) => {
      const tls = this.#tls
      const base = {
        host: destination.address,
        port: destination.port,
        family: familyOf(destination.address) === 'IPv6' ? 6 : 4,
      }
      const socket: Socket = tls
        ? tlsConnect({
            ...base,
            ...tls.client,
            // RFC 5922 §7.2: the client presents the target domain; SNI takes no IP literals (RFC 6066 §3).
            ...(destination.serverName ? { servername: destination.serverName } : {}),
          })
        : netConnect(base)
      const readyEvent = tls ? 'secureConnect' : 'connect'
      let tcpUp = false
      socket.once('connect', () => {
        tcpUp = true
      })
      const timer = setTimeout(() => socket.destroy(new Error('connect timeout')), this.#connectTimeoutMs)
      const fail = (cause: Error) => {
        clearTimeout(timer)
        this.counters.connectFailures++
        if (tls && tcpUp) this.counters.handshakeFailures++
        socket.destroy()
        reject(
          new SipTransportError(
            TransportErrorCode.connectFailed,
            `cannot open ${this.protocol} connection to ${destination.address}:${destination.port}: ${cause.message}`,
            { cause },
          ),
        )
      }
      socket.once('error', fail)
      socket.once(readyEvent, () => {
        clearTimeout(timer)
        socket.removeListener('error', fail)
        if (this.#closed) {
          socket.destroy()
          reject(new SipTransportError(TransportErrorCode.sendFailed, 'transport is closed'))
          return
        }
        resolve(this.#register(socket, true))
      })
    })
  }

  /**
   * Replaces the certificate, key and CA of a TLS transport (a renewed Secret): the listener
   * hands the new secure context to handshakes from now on and outbound connections opened from
   * now on present the new certificate; established connections keep the one they negotiated.
   * Throws {@link SipTransportError} (`tlsConfig`) when the material cannot be read or OpenSSL
   * refuses it, and then changes nothing.
   */
  setTls(settings: TlsSettings): void {
    if (!this.#tls)
      throw new SipTransportError(TransportErrorCode.tlsConfig, `a ${this.protocol} transport has no TLS`)
    const next = resolveTls(settings)
    const { requestCert: _r, rejectUnauthorized: _u, ...context } = next.server
    try {
      // A key that does not match its certificate throws here. Checked before setSecureContext,
      // which records the new options on the server before building the context.
      createSecureContext(context)
    } catch (cause) {
      throw new SipTransportError(
        TransportErrorCode.tlsConfig,
        `new TLS material refused: ${(cause as Error).message}`,
        { cause },
      )
    }
    ;(this.#server as TlsServer).setSecureContext(context)
    this.#tls = next
  }

  /** Stops listening and closes every connection. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()))
    for (const socket of this.#sockets) socket.destroy()
    await closed
  }
}

function tlsPeerInfo(socket: TLSSocket, outbound: boolean): TlsPeerInfo {
  // On the server side node sets `servername` to the SNI the client sent, or false.
  const serverName = outbound ? undefined : (socket as TLSSocket & { servername?: string | false }).servername
  return {
    peerCertificateNames: peerCertificateNames(socket.getPeerCertificate()),
    authorized: socket.authorized,
    ...(typeof serverName === 'string' ? { serverName } : {}),
  }
}
