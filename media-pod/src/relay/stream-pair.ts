import type { EndpointConfig, EndpointSpec, EndpointStats, RelayBackend, RelayEndpoint } from './relay.ts'

/**
 * The two endpoints of one media section of a call (one per party), on one backend. The native
 * worker is preferred; when the programmed configuration needs something only the TypeScript relay
 * does (`RelayBackend.supports`), the pair moves to the fallback on the same ports (sockets are
 * closed and rebound; counters restart). Owned by: the NG handler (control loop).
 */
export class StreamPair {
  private readonly preferred: RelayBackend | null
  private readonly fallback: RelayBackend
  private readonly specs: readonly [EndpointSpec, EndpointSpec]
  private backend: RelayBackend
  private endpoints: [RelayEndpoint, RelayEndpoint]
  /** `program` has been called (the configurations themselves live in the endpoints). */
  private isProgrammed = false
  private closed = false

  private constructor(
    preferred: RelayBackend | null,
    fallback: RelayBackend,
    specs: readonly [EndpointSpec, EndpointSpec],
    backend: RelayBackend,
    endpoints: [RelayEndpoint, RelayEndpoint],
  ) {
    this.preferred = preferred
    this.fallback = fallback
    this.specs = specs
    this.backend = backend
    this.endpoints = endpoints
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
      for (const e of this.endpoints) e.close()
      this.endpoints = await openBoth(want, this.specs)
      this.backend = want
    }
    this.endpoints[0].configure(a)
    this.endpoints[1].configure(b)
    this.isProgrammed = true
  }

  stats(side: 0 | 1): EndpointStats {
    return this.endpoints[side].stats()
  }

  tick(): void {
    for (const e of this.endpoints) e.tick()
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    for (const e of this.endpoints) e.close()
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
