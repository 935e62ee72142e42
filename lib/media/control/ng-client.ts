import { randomBytes } from 'node:crypto'
import DgramAsPromised, { type SocketAsPromised } from 'dgram-as-promised'
import { type Logger, nullLogger } from '../../observability/logger.ts'
import type { BencodeDict } from './bencode.ts'
import { NgError, NgErrorCode, NgRemoteError } from './errors.ts'
import {
  decodeNgDatagram,
  encodeNgDatagram,
  type NgAnswerRequest,
  type NgDeleteRequest,
  type NgListResponse,
  type NgOfferRequest,
  type NgQueryRequest,
  type NgResponse,
  type NgSdpResponse,
  type NgWithdrawOfferRequest,
  parseNgResponse,
} from './ng-message.ts'

/** Options of {@link NgClient.connect}. */
export interface NgClientOptions {
  host: string
  port: number
  /** Wait before the first retransmission, in ms; doubled after each (RFC 3261 §17.1.2.2 style). Default 500. */
  retransmitMs?: number
  /** Retransmissions after the first send. Default 3 (total wait 500+1000+2000+4000 ms). */
  retransmissions?: number
  /** kube-sbc extension: sent as `kube-sbc-secret` when set; plain rtpengine ignores it with a warning. */
  secret?: string
  /** Local address to bind; default the loopback when `host` is loopback, else the wildcard. */
  localAddress?: string
  logger?: Logger
}

type Body<T> = Omit<T, 'command'>

/** Per-request options of {@link NgClient.request}. */
export interface NgRequestOptions {
  /**
   * Called as each retransmission is handed to the socket (`attempt`: 1 for the first). A caller that
   * must not wait out a silent server for the whole budget learns here that the first send went
   * unanswered, while the request goes on (the B2BUA's `withdraw offer`, media-anchor.ts).
   */
  onRetransmit?(attempt: number): void
}

interface Pending {
  resolve(r: NgResponse): void
  reject(e: Error): void
}

/**
 * An NG protocol client over UDP (the role Kamailio's rtpengine module plays). Each request gets a
 * fresh cookie; the same datagram is retransmitted with the same cookie until a reply with that cookie
 * arrives, so the server can answer retransmissions from its cache without re-executing the command.
 */
export class NgClient {
  private readonly socket: SocketAsPromised
  private readonly options: Required<Omit<NgClientOptions, 'secret' | 'logger' | 'localAddress'>> & {
    secret?: string
  }
  private readonly logger: Logger
  private readonly pending = new Map<string, Pending>()
  private readonly prefix = randomBytes(4).toString('hex')
  private counter = 0
  private closed = false
  private readonly reader: Promise<void>

  private constructor(socket: SocketAsPromised, options: NgClientOptions) {
    this.socket = socket
    this.options = {
      host: options.host,
      port: options.port,
      retransmitMs: options.retransmitMs ?? 500,
      retransmissions: options.retransmissions ?? 3,
      ...(options.secret === undefined ? {} : { secret: options.secret }),
    }
    this.logger = (options.logger ?? nullLogger).child({ ngServer: `${options.host}:${options.port}` })
    this.reader = this.readLoop()
  }

  /** Opens a client socket bound to an ephemeral port of the matching address family. */
  static async connect(options: NgClientOptions): Promise<NgClient> {
    const v6 = options.host.includes(':')
    const loopback = options.host === '::1' || options.host.startsWith('127.')
    const socket = DgramAsPromised.createSocket(v6 ? 'udp6' : 'udp4')
    await socket.bind(0, options.localAddress ?? (loopback ? options.host : v6 ? '::' : '0.0.0.0'))
    return new NgClient(socket, options)
  }

  private async readLoop(): Promise<void> {
    for (;;) {
      let packet: Awaited<ReturnType<SocketAsPromised['recv']>>
      try {
        packet = await this.socket.recv()
      } catch (err) {
        if (this.closed) return
        this.logger.warn({ err }, 'NG client socket failed')
        continue
      }
      if (!packet) return
      if (packet.rinfo.port !== this.options.port) continue
      try {
        const { cookie, dict } = decodeNgDatagram(packet.msg)
        const p = this.pending.get(cookie)
        if (!p) continue // a late duplicate of an answered request
        this.pending.delete(cookie)
        try {
          p.resolve(parseNgResponse(dict))
        } catch (err) {
          p.reject(err as Error)
        }
      } catch (err) {
        this.logger.warn({ err }, 'Dropped an undecodable NG response')
      }
    }
  }

  /**
   * Sends a request dictionary and resolves with the response. Rejects with `SBC_ERR_NG_TIMEOUT`
   * after the retransmission budget, with {@link NgRemoteError} on `result: error`.
   */
  async request(
    dict: BencodeDict | Record<string, unknown>,
    options: NgRequestOptions = {},
  ): Promise<NgResponse> {
    if (this.closed) throw new NgError(NgErrorCode.ngClosed, 'NG client is closed')
    const cookie = `${this.prefix}_${++this.counter}`
    const body =
      this.options.secret === undefined ? dict : { ...dict, 'kube-sbc-secret': this.options.secret }
    const datagram = encodeNgDatagram(cookie, body)
    const command = String((dict as Record<string, unknown>).command)
    const response = await new Promise<NgResponse>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined
      const finish = () => {
        clearTimeout(timer)
        this.pending.delete(cookie)
      }
      this.pending.set(cookie, {
        resolve: (r) => {
          finish()
          resolve(r)
        },
        reject: (e) => {
          finish()
          reject(e)
        },
      })
      let attempt = 0
      const send = () => {
        if (!this.pending.has(cookie)) return
        if (attempt > this.options.retransmissions) {
          finish()
          reject(new NgError(NgErrorCode.ngTimeout, `no NG reply to '${command}' after ${attempt} attempts`))
          return
        }
        const wait = this.options.retransmitMs * 2 ** attempt
        attempt++
        this.socket.send(datagram, this.options.port, this.options.host).catch((err: unknown) => {
          this.logger.warn({ err, cookie }, 'Failed to send an NG request')
        })
        timer = setTimeout(send, wait)
        if (attempt > 1) {
          // The caller's hook runs in this timer: its exception would end the process, so it is logged.
          try {
            options.onRetransmit?.(attempt - 1)
          } catch (err) {
            this.logger.warn({ err, cookie }, 'An NG retransmission hook threw')
          }
        }
      }
      send()
    })
    if (response.result === 'error')
      throw new NgRemoteError(command, response['error-reason'] ?? 'unknown error')
    return response
  }

  /** `ping` → `pong`. */
  async ping(): Promise<void> {
    const r = await this.request({ command: 'ping' })
    if (r.result !== 'pong') throw new NgError(NgErrorCode.ngInvalid, `ping answered '${r.result}'`)
  }

  /** `offer`: returns the rewritten SDP for the answerer. */
  offer(body: Body<NgOfferRequest>): Promise<NgSdpResponse> {
    return this.sdpRequest({ ...body, command: 'offer' })
  }

  /** `answer`: returns the rewritten SDP for the offerer. */
  answer(body: Body<NgAnswerRequest>): Promise<NgSdpResponse> {
    return this.sdpRequest({ ...body, command: 'answer' })
  }

  /** `delete`: tears down a call or one branch. */
  delete(body: Body<NgDeleteRequest>): Promise<NgResponse> {
    return this.request({ ...body, command: 'delete' })
  }

  /** `query`: per-call statistics. */
  query(body: Body<NgQueryRequest>): Promise<NgResponse> {
    return this.request({ ...body, command: 'query' })
  }

  /** `list`: active call-ids. */
  async list(limit?: number): Promise<NgListResponse> {
    const r = await this.request(limit === undefined ? { command: 'list' } : { command: 'list', limit })
    const calls = r.calls
    if (!Array.isArray(calls) || !calls.every((c) => typeof c === 'string')) {
      throw new NgError(NgErrorCode.ngInvalid, 'list reply has no calls list')
    }
    return r as NgListResponse
  }

  /** `withdraw offer` (kube-sbc extension): the last re-offer from `from-tag` was refused. */
  withdrawOffer(body: Body<NgWithdrawOfferRequest>, options?: NgRequestOptions): Promise<NgResponse> {
    return this.request({ ...body, command: 'withdraw offer' }, options)
  }

  /** `statistics`: daemon-wide counters. */
  statistics(): Promise<NgResponse> {
    return this.request({ command: 'statistics' })
  }

  private async sdpRequest(dict: Record<string, unknown>): Promise<NgSdpResponse> {
    const r = await this.request(dict)
    if (typeof r.sdp !== 'string')
      throw new NgError(NgErrorCode.ngInvalid, `${String(dict.command)} reply has no sdp`)
    return r as NgSdpResponse
  }

  /** Closes the socket; pending requests reject with `SBC_ERR_NG_CLOSED`. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    for (const p of this.pending.values()) p.reject(new NgError(NgErrorCode.ngClosed, 'NG client closed'))
    this.pending.clear()
    await this.socket.close()
    await this.reader
  }
}
