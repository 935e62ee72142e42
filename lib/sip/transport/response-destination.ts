import { getParam } from '../message/headers/params.ts'
import type { Via } from '../message/headers/via.ts'
import type { Destination, TransportAddress, TransportProtocol } from './transport.ts'

/** The default port of a transport (RFC 3261 §19.1.2: 5060, and 5061 for TLS). */
export function defaultPort(transport: TransportProtocol): number {
  return transport === 'tls' ? 5061 : 5060
}

/** Maps a Via transport token to ours; unknown tokens (SCTP, WS) yield undefined. */
export function viaTransport(via: Via): TransportProtocol | undefined {
  const t = via.transport.toUpperCase()
  return t === 'UDP' ? 'udp' : t === 'TCP' ? 'tcp' : t === 'TLS' ? 'tls' : undefined
}

/** `[::1]` → `::1`; other hosts unchanged. */
export function unbracket(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host
}

/**
 * The `received` and `rport` values a server adds to the top Via of a request it receives.
 *
 * @remarks
 * RFC 3261 §18.2.1 (https://www.rfc-editor.org/rfc/rfc3261#section-18.2.1): "the server transport
 * ... MUST examine the value of the 'sent-by' parameter in the top Via header field value. If the
 * host portion of the 'sent-by' parameter contains a domain name, or if it contains an IP address
 * that differs from the packet source address, the server MUST add a 'received' parameter to that
 * Via header field value."
 *
 * RFC 3581 §4 (https://www.rfc-editor.org/rfc/rfc3581#section-4): "When a server compliant to this
 * specification (which can be a proxy or UAS) receives a request, it examines the topmost Via header
 * field value. If this Via header field value contains an 'rport' parameter with no value, it MUST
 * set the value of the parameter to the source port of the request." ... "the server MUST insert a
 * 'received' parameter containing the source IP address that the request came from, even if it is
 * identical to the value of the 'sent-by' component."
 */
export function viaReceivedParams(via: Via, source: TransportAddress): { received?: string; rport?: number } {
  const rport = getParam(via.params, 'rport')
  const wantsRport = rport === null || rport === ''
  const out: { received?: string; rport?: number } = {}
  if (wantsRport || unbracket(via.host).toLowerCase() !== source.address.toLowerCase())
    out.received = source.address
  if (wantsRport) out.rport = source.port
  return out
}

/**
 * Where to send a response, from the top Via of the request as received and the request's source.
 * A pure function: the endpoint applies it and the transport falls back from `connectionId` to
 * address:port (opening a connection) when the original connection has closed.
 *
 * @remarks
 * RFC 3261 §18.2.2 (https://www.rfc-editor.org/rfc/rfc3261#section-18.2.2):
 * - "If the 'sent-protocol' is a reliable transport protocol such as TCP or SCTP, or TLS over those,
 *   the response MUST be sent using the existing connection to the source of the original request
 *   that created the transaction, if that connection is still open. ... If the connection is no
 *   longer open, the server SHOULD open a connection to the IP address in the 'received' parameter,
 *   if present, using the port in the 'sent-by' value, or the default port for that transport".
 * - "Otherwise, if the Via header field value contains a 'maddr' parameter, the response MUST be
 *   forwarded to the address listed there, using the port indicated in 'sent-by', or port 5060 if
 *   none is present."
 * - "Otherwise (for unreliable unicast transports), if the top Via has a 'received' parameter, the
 *   response MUST be sent to the address in the 'received' parameter, using the port indicated in
 *   the 'sent-by' value, or using port 5060 if none is specified explicitly."
 * - "Otherwise, ... the response MUST be sent to the address indicated by the 'sent-by' value".
 *
 * RFC 3581 §4: "the server MUST send it to the IP address from which the request came and the port
 * from which it came" when the request carried an empty `rport`. Over a connection-oriented
 * transport the rport port is used for a new connection as well, since it is where the client is
 * reachable through NAT.
 */
export function responseDestination(via: Via, source: TransportAddress, connectionId?: string): Destination {
  // A request that arrived over a connection is answered on that connection's transport, whatever
  // its Via says: §18.2.2 binds the response to "the existing connection to the source of the
  // original request", and a client behind a TLS tunnel (stunnel) writes TCP in its Via.
  const transport = source.transport !== 'udp' ? source.transport : (viaTransport(via) ?? source.transport)
  const { received, rport } = viaReceivedParams(via, source)
  const receivedParam = getParam(via.params, 'received')
  const sentByHost = unbracket(via.host)
  const sentByPort = via.port ?? defaultPort(transport)
  if (transport !== 'udp') {
    return {
      transport,
      address: received ?? (typeof receivedParam === 'string' ? receivedParam : sentByHost),
      port: rport ?? sentByPort,
      ...(connectionId === undefined ? {} : { connectionId }),
    }
  }
  if (rport !== undefined) return { transport, address: source.address, port: rport }
  const maddr = getParam(via.params, 'maddr')
  if (typeof maddr === 'string' && maddr !== '')
    return { transport, address: unbracket(maddr), port: via.port ?? 5060 }
  const address = received ?? (typeof receivedParam === 'string' ? receivedParam : sentByHost)
  return { transport, address, port: via.port ?? 5060 }
}
