import {
  type EndpointConfig,
  type EndpointSpec,
  type EndpointStats,
  type RelayBackend,
  type RelayEndpoint,
  zeroStats,
} from './relay.ts'

/**
 * The two endpoints of one media section of a call (one per party), on one backend. The native
 * worker is preferred; when the programmed configuration needs something only the TypeScript relay
 * does (`RelayBackend.supports`), the pair moves to the fallback on the same ports (sockets are
 * closed and rebound; counters restart). Owned by: the NG handler (control loop).
 *
 * @remarks
 * Held for the whole call, so it keeps fields rather than arrays and spec objects (an array costs
 * 56 B and more, a spec 52 B): the endpoints themselves, and of the specs only what the endpoints do
 * not already know (bind addresses, shared with the realm, and the affinity).
 */
export class StreamPair {
  private readonly preferred: RelayBackend | null
  private readonly fallback: RelayBackend
  private readonly bind0: string
  private readonly bind1: string
  private readonly affinity: number | undefined
  private backend: RelayBackend
  private e0: RelayEndpoint
  private e1: RelayEndpoint
  /** `program` has been called (the configurations themselves live in the endpoints). */
  private isProgrammed = false
  private closed = false

  private constructor(
    preferred: RelayBackend | null,
    fallback: RelayBackend,
    specs: readonly [EndpointSpec, EndpointSpec],
    backend: RelayBackend,
    endpoints: readonly [RelayEndpoint, RelayEndpoint],
  ) {
    this.preferred = preferred
    this.fallback = fallback
    this.bind0 = specs[0].bindAddress
    this.bind1 = specs[1].bindAddress
    this.affinity = specs[0].affinity
    this.backend = backend
    this.e0 = endpoints[0]
    this.e1 = endpoints[1]
  }

  /** Binds both endpoints on the preferred backend (or the fallback when there is none). */
  static async open(
    preferred: RelayBackend | null,
    fallback: RelayBackend,
    specs: readonly [EndpointSpec, EndpointSpec],
  ): Promise<StreamPair> {
    const backend = preferred ?? fallback
    const endpoints = await openBoth(backend, specs)
    return new StreamPair(preferred, fallback, specs, backend, endpoints)
  }

  /** The backend relaying now. */
  get backendName(): 'native' | 'dgram' {
    return this.backend.name
  }

  /** Whether `program` has been called (both parties known). */
  get programmed(): boolean {
    return this.isProgrammed
  }

  /** Applies both parties' configuration, moving to the fallback backend when needed. */
  async program(a: EndpointConfig, b: EndpointConfig): Promise<void> {
    if (this.closed) return
    const want = this.preferred?.supports(a, b) ? this.preferred : this.fallback
    if (want !== this.backend) {
      const specs = [this.spec(this.bind0, this.e0), this.spec(this.bind1, this.e1)] as const
      this.e0.close()
      this.e1.close()
      try {
        ;[this.e0, this.e1] = await openBoth(want, specs)
        this.backend = want
      } catch (err) {
        // The preferred backend refused the ports (a socket the kernel would not watch, one taken
        // meanwhile): the fallback relays every configuration, so the call goes on there. Only when
        // the fallback itself fails is the pair dead; it is then closed, and reads as silent (the
        // media timeout ends the call), where it used to keep closed endpoints that the media
        // timeout's tick read (a native leg slot freed, or reused by another call).
        if (want === this.fallback) {
          this.closed = true
          throw err
        }
        try {
          ;[this.e0, this.e1] = await openBoth(this.fallback, specs)
          this.backend = this.fallback
        } catch {
          this.closed = true
          throw err
        }
      }
    }
    this.e0.configure(a)
    this.e1.configure(b)
    this.isProgrammed = true
  }

  stats(side: 0 | 1): EndpointStats {
    return this.closed ? zeroStats() : (side === 0 ? this.e0 : this.e1).stats()
  }

  idleMs(side: 0 | 1): number {
    return this.closed ? -1 : (side === 0 ? this.e0 : this.e1).idleMs()
  }

  tick(): void {
    if (this.closed) return
    this.e0.tick()
    this.e1.tick()
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    this.e0.close()
    this.e1.close()
  }

  /** The spec an endpoint was opened with (to rebind its ports on another backend). */
  private spec(bindAddress: string, e: RelayEndpoint): EndpointSpec {
    return { bindAddress, rtpPort: e.rtpPort, rtcpPort: e.rtcpPort, affinity: this.affinity }
  }
}

async function openBoth(
  backend: RelayBackend,
  specs: readonly [EndpointSpec, EndpointSpec],
): Promise<[RelayEndpoint, RelayEndpoint]> {
  const a = await backend.open(specs[0])
  let b: RelayEndpoint
  try {
    b = await backend.open(specs[1])
  } catch (e) {
    a.close()
    throw e
  }
  backend.pair(a, b)
  return [a, b]
}
