/** What the table needs to know about a connection. */
export interface TableConnection {
  readonly id: string
  /** Remote IP address. */
  readonly remoteAddress: string
  readonly remotePort: number
}

/** `address|port`, the alias under which a flow is found for reuse. */
export function flowKey(address: string, port: number): string {
  return `${address}|${port}`
}

/**
 * Open stream connections of one transport, indexed by id and by remote address:port.
 *
 * @remarks
 * RFC 3261 §18.2.2 (https://www.rfc-editor.org/rfc/rfc3261#section-18.2.2): "If the 'sent-protocol'
 * is a reliable transport protocol such as TCP or SCTP, or TLS over those, the response MUST be
 * sent using the existing connection to the source of the original request that created the
 * transaction, if that connection is still open." Requests to a peer reuse the connection it opened
 * to us too (the alias by its source address:port), as RFC 5923 does after aliasing; this is how
 * SIP trunks behind NAT are reached at all.
 */
export class ConnectionTable<C extends TableConnection> {
  readonly #byId = new Map<string, C>()
  readonly #byFlow = new Map<string, C>()
  readonly #perAddress = new Map<string, number>()

  get size(): number {
    return this.#byId.size
  }

  /** Connections currently open from or to `address`. */
  countFrom(address: string): number {
    return this.#perAddress.get(address) ?? 0
  }

  add(connection: C): void {
    this.#byId.set(connection.id, connection)
    // The newest connection to a flow wins the alias: an old one is usually half-dead.
    this.#byFlow.set(flowKey(connection.remoteAddress, connection.remotePort), connection)
    this.#perAddress.set(connection.remoteAddress, this.countFrom(connection.remoteAddress) + 1)
  }

  remove(connection: C): void {
    if (!this.#byId.delete(connection.id)) return
    const key = flowKey(connection.remoteAddress, connection.remotePort)
    if (this.#byFlow.get(key) === connection) this.#byFlow.delete(key)
    const n = this.countFrom(connection.remoteAddress) - 1
    if (n > 0) this.#perAddress.set(connection.remoteAddress, n)
    else this.#perAddress.delete(connection.remoteAddress)
  }

  byId(id: string): C | undefined {
    return this.#byId.get(id)
  }

  byFlow(address: string, port: number): C | undefined {
    return this.#byFlow.get(flowKey(address, port))
  }

  /** The connection pinned by id if still open, else any connection to address:port. */
  find(address: string, port: number, id?: string): C | undefined {
    return (id === undefined ? undefined : this.#byId.get(id)) ?? this.byFlow(address, port)
  }

  all(): IterableIterator<C> {
    return this.#byId.values()
  }
}
