import { timingSafeEqual } from 'node:crypto'
import type { RemoteInfo } from 'node:dgram'
import DgramAsPromised, { type SocketAsPromised } from 'dgram-as-promised'
import { SbcError } from '../../errors.ts'
import { type Logger, nullLogger } from '../../observability/logger.ts'
import { bencode } from './bencode.ts'
import { NgError, NgErrorCode } from './errors.ts'
import {
  decodeNgDatagram,
  encodeNgDatagram,
  MAX_NG_REPLY,
  type NgRequest,
  type NgResponse,
  ngErrorResponse,
  parseNgRequest,
} from './ng-message.ts'

/** What a handler learns besides the request. */
export interface NgRequestContext {
  readonly cookie: string
  readonly remote: { readonly address: string; readonly port: number }
  /** Unknown keys/flags/values found while parsing; the transport adds them to `warning` of an ok reply. */
  readonly warnings: readonly string[]
}

/**
 * The media pod's side of the protocol: executes one validated request and returns the reply
 * dictionary (without cookie). Throwing an {@link SbcError} yields `result: error` with its message;
 * any other exception yields a generic error reply and is logged.
 */
export interface NgRequestHandler {
  handle(request: NgRequest, context: NgRequestContext): Promise<NgResponse> | NgResponse
}

/** Options of {@link NgServerTransport.listen}. */
export interface NgServerTransportOptions {
  /** Address to bind; in a pod, the pod IP (the NetworkPolicy fences it to the pod network). */
  host: string
  /** UDP port; 0 picks a free one. rtpengine's customary port is 2223 / 22222. */
  port: number
  handler: NgRequestHandler
  /**
   * Reply cache so that a retransmitted request (same cookie from the same address) gets the
   * identical reply without re-executing (an `offer` must not allocate twice).
   */
  cache?: { maxEntries?: number; ttlMs?: number }
  /**
   * kube-sbc extension: a shared secret. A request carrying `kube-sbc-secret` must match it. Requests
   * without the key are accepted unless `requireSecret` is set, so stock NG clients keep working.
   */
  secret?: string
  requireSecret?: boolean
  logger?: Logger
  /** Monotonic clock in ms, injectable for tests of expiry. */
  now?: () => number
}

type CacheEntry = { state: 'pending'; expires: number } | { state: 'done'; reply: Buffer; expires: number }

/** Cache and traffic counters, for `sbc_media_ng_*` metrics. */
export interface NgServerCounters {
  requests: number
  retransmissions: number
  malformed: number
  errors: number
}

/**
 * UDP endpoint of the NG protocol with a bounded, expiring cookie cache (idempotence under
 * retransmission, as rtpengine's `control_ng` does). Owned by: control loop.
 */
export class NgServerTransport {
  private readonly socket: SocketAsPromised
  private readonly options: NgServerTransportOptions
  private readonly logger: Logger
  private readonly cache = new Map<string, CacheEntry>()
  private readonly maxEntries: number
  private readonly ttlMs: number
  private readonly now: () => number
  private readonly loop: Promise<void>
  private closed = false
  readonly counters: NgServerCounters = { requests: 0, retransmissions: 0, malformed: 0, errors: 0 }

  private constructor(socket: SocketAsPromised, options: NgServerTransportOptions) {
    this.socket = socket
    this.options = options
    this.logger = (options.logger ?? nullLogger).child({ module: 'ng-server' })
    this.maxEntries = options.cache?.maxEntries ?? 10_000
    this.ttlMs = options.cache?.ttlMs ?? 30_000
    this.now = options.now ?? (() => performance.now())
    this.loop = this.receive()
  }

  /** Binds the socket and starts serving. */
  static async listen(options: NgServerTransportOptions): Promise<NgServerTransport> {
    const socket = DgramAsPromised.createSocket(options.host.includes(':') ? 'udp6' : 'udp4')
    await socket.bind(options.port, options.host)
    return new NgServerTransport(socket, options)
  }

  /** The bound address. */
  address(): { address: string; port: number } {
    const a = this.socket.address()
    return { address: a.address, port: a.port }
  }

  /** Number of cached replies (including in-flight requests). */
  get cacheSize(): number {
    return this.cache.size
  }

  private async receive(): Promise<void> {
    for (;;) {
      let packet: Awaited<ReturnType<SocketAsPromised['recv']>>
      try {
        packet = await this.socket.recv()
      } catch (err) {
        if (this.closed) return
        this.logger.warn({ err }, 'NG socket reported an error')
        continue
      }
      if (!packet) return
      // Not awaited: a slow offer must not hold up pings; ordering per call is the client's job.
      this.onDatagram(packet.msg, packet.rinfo).catch((err: unknown) => {
        // Never let one bad datagram take the media pod down.
        this.logger.error({ err }, 'Failed to process an NG datagram')
      })
    }
  }

  private async onDatagram(msg: Buffer, rinfo: RemoteInfo): Promise<void> {
    let cookie: string
    let dict: ReturnType<typeof decodeNgDatagram>['dict']
    try {
      ;({ cookie, dict } = decodeNgDatagram(msg))
    } catch (err) {
      this.counters.malformed++
      const space = msg.indexOf(0x20)
      const maybeCookie = space > 0 && space <= 128 ? msg.toString('latin1', 0, space) : ''
      this.logger.warn({ err, remote: rinfo.address }, 'Received an invalid NG datagram')
      // Without a cookie there is nothing to answer to (rtpengine drops it too).
      if (/^[\x21-\x7e]+$/.test(maybeCookie)) {
        await this.send(encodeNgDatagram(maybeCookie, ngErrorResponse(errorReason(err))), rinfo)
      }
      return
    }
    const key = `${rinfo.address} ${cookie}`
    const t = this.now()
    this.expire(t)
    const cached = this.cache.get(key)
    if (cached && cached.expires > t) {
      this.counters.retransmissions++
      // In flight: the reply goes out when the first copy completes.
      if (cached.state === 'done') await this.send(cached.reply, rinfo)
      return
    }
    this.counters.requests++
    this.remember(key, { state: 'pending', expires: t + this.ttlMs })
    let reply = encodeNgDatagram(cookie, await this.execute(cookie, dict, rinfo))
    if (reply.length > MAX_NG_REPLY) {
      // Sent as it is, it would be lost (EMSGSIZE) and the client would time out: say why instead.
      this.counters.errors++
      reply = encodeNgDatagram(
        cookie,
        ngErrorResponse(`the reply (${reply.length} octets) does not fit in one datagram`),
      )
    }
    this.remember(key, { state: 'done', reply, expires: this.now() + this.ttlMs })
    await this.send(reply, rinfo)
  }

  private async execute(
    cookie: string,
    dict: ReturnType<typeof decodeNgDatagram>['dict'],
    rinfo: RemoteInfo,
  ): Promise<NgResponse> {
    try {
      this.checkSecret(dict['kube-sbc-secret'])
      delete dict['kube-sbc-secret']
      const parsed = parseNgRequest(cookie, dict)
      const response = await this.options.handler.handle(parsed.request, {
        cookie,
        remote: { address: rinfo.address, port: rinfo.port },
        warnings: parsed.warnings,
      })
      if (response.result === 'error') this.counters.errors++
      let out = response
      if (parsed.warnings.length > 0 && response.result !== 'error') {
        const warning = [response.warning, ...parsed.warnings].filter((w) => w !== undefined).join('; ')
        out = { ...response, warning }
      }
      bencode(out) // fail here, inside the try, if the handler returned something unencodable
      return out
    } catch (err) {
      this.counters.errors++
      if (!(err instanceof SbcError)) this.logger.error({ err, cookie }, 'NG handler failed')
      return ngErrorResponse(errorReason(err))
    }
  }

  private checkSecret(given: unknown): void {
    const secret = this.options.secret
    if (secret === undefined) return
    if (given === undefined) {
      if (this.options.requireSecret) throw new NgError(NgErrorCode.ngInvalid, 'Missing kube-sbc-secret')
      return
    }
    const a = Buffer.from(typeof given === 'string' ? given : '')
    const b = Buffer.from(secret)
    if (a.length !== b.length || !timingSafeEqual(a, b))
      throw new NgError(NgErrorCode.ngInvalid, 'Invalid kube-sbc-secret')
  }

  /** Inserts at the end (Map keeps insertion order), evicting the oldest when full. */
  private remember(key: string, entry: CacheEntry): void {
    this.cache.delete(key)
    this.cache.set(key, entry)
    while (this.cache.size > this.maxEntries) {
      const oldest = this.cache.keys().next().value
      if (oldest === undefined) break
      this.cache.delete(oldest)
    }
  }

  /** Drops expired entries from the front; entries are in (re)insertion order, so expiries ascend. */
  private expire(t: number): void {
    for (const [key, entry] of this.cache) {
      if (entry.expires > t) break
      this.cache.delete(key)
    }
  }

  private async send(reply: Buffer, rinfo: RemoteInfo): Promise<void> {
    try {
      await this.socket.send(reply, rinfo.port, rinfo.address)
    } catch (err) {
      this.logger.warn({ err, remote: rinfo.address, bytes: reply.length }, 'Failed to send an NG reply')
    }
  }

  /** Stops serving and closes the socket. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.socket.close()
    await this.loop
  }
}

function errorReason(err: unknown): string {
  return err instanceof SbcError ? err.message : 'Internal error'
}
