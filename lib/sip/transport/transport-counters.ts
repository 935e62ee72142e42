/**
 * Plain counters of one transport. Observability reads them on scrape and turns them into
 * `sbc_sip_transport_*_total` metrics; lib/sip never imports prom-client.
 */
export class TransportCounters {
  /** Messages delivered upward (datagrams, or framed stream messages). */
  messagesIn = 0
  /** Messages handed to the socket. */
  messagesOut = 0
  bytesIn = 0
  bytesOut = 0
  /** Stream connections accepted or opened (after the TLS handshake for TLS). */
  connectionsOpened = 0
  connectionsClosed = 0
  /** Inbound connections closed at once because their source reached the per-source limit. */
  connectionsRejected = 0
  /** Connections closed after the idle timeout. */
  idleTimeouts = 0
  /** TLS handshakes that failed, inbound or outbound (bad, missing, expired or unknown-CA certs). */
  handshakeFailures = 0
  /** Outbound connection attempts that failed (refused, unreachable, timed out, handshake). */
  connectFailures = 0
  /** Stream framing errors (bad or missing Content-Length, message too large); each closes its connection. */
  framingErrors = 0
  /** Sends that failed at the socket. */
  sendErrors = 0
  /** RFC 5626 keep-alive pings answered with a pong. */
  keepAlivePings = 0
}
