import { randomBytes } from 'node:crypto'
import { createSocket, type Socket } from 'node:dgram'
import { type SipRequest, SipResponse } from '../../lib/sip/message/message.ts'
import { parse } from '../../lib/sip/message/parse.ts'

/** One datagram a {@link UdpPeer} received: parsed, and the port it came from. */
export interface Received {
  msg: SipRequest | SipResponse
  port: number
}

/**
 * A bare UDP socket on 127.0.0.1 that records what it receives and sends exactly the bytes the
 * test gives it: no transaction layer, no retransmissions, no automatic answers, so the test decides
 * when (and whether) each message goes out — a caller that copies its INVITE to another process, a
 * callee that answers only once the test has checked what happened meanwhile.
 */
export class UdpPeer {
  readonly received: Received[] = []
  readonly #socket: Socket
  readonly #waiters: (() => void)[] = []

  private constructor(socket: Socket) {
    this.#socket = socket
    socket.on('message', (buf, rinfo) => {
      try {
        this.received.push({ msg: parse(buf) as SipRequest | SipResponse, port: rinfo.port })
      } catch {
        return
      }
      for (const w of this.#waiters.splice(0)) w()
    })
  }

  static async open(port: number): Promise<UdpPeer> {
    const s = createSocket('udp4')
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject)
      s.bind(port, '127.0.0.1', () => resolve())
    })
    return new UdpPeer(s)
  }

  send(text: string, port: number): Promise<void> {
    return new Promise((resolve, reject) =>
      this.#socket.send(Buffer.from(text, 'latin1'), port, '127.0.0.1', (e) => (e ? reject(e) : resolve())),
    )
  }

  /** The messages received so far that match `pred`. */
  all(pred: (m: SipRequest | SipResponse) => boolean): Received[] {
    return this.received.filter((r) => pred(r.msg))
  }

  /** The first message received matching `pred`, waiting for it up to `timeoutMs`. */
  async waitFor(
    pred: (m: SipRequest | SipResponse) => boolean,
    what: string,
    timeoutMs = 10_000,
  ): Promise<Received> {
    const until = Date.now() + timeoutMs
    for (;;) {
      const r = this.received.find((x) => pred(x.msg))
      if (r) return r
      const left = until - Date.now()
      if (left <= 0) throw new Error(`no ${what} within ${timeoutMs} ms`)
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 200))
        this.#waiters.push(() => {
          clearTimeout(t)
          resolve()
        })
      })
    }
  }

  close(): void {
    this.#socket.close()
  }
}

/** Matches a request by method (and Call-ID). */
export const request =
  (method: string, callId?: string) =>
  (m: SipRequest | SipResponse): boolean =>
    !(m instanceof SipResponse) && m.method === method && (callId === undefined || m.callId === callId)

/** Matches a response by status (and Call-ID, and CSeq method). */
export const response =
  (status: number, callId?: string, method = 'INVITE') =>
  (m: SipRequest | SipResponse): boolean =>
    m instanceof SipResponse &&
    m.status === status &&
    (callId === undefined || m.callId === callId) &&
    m.cseq?.method === method

export const newBranch = () => `z9hG4bK${randomBytes(6).toString('hex')}`

/** A request from a caller at `port` as bytes: the test can send the same bytes twice. */
export function sipRequest(o: {
  method: string
  ruri: string
  port: number
  branch: string
  fromTag: string
  to: string
  callId: string
  cseq: number
}): string {
  return [
    `${o.method} ${o.ruri} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${o.port};branch=${o.branch};rport`,
    'Max-Forwards: 70',
    `From: <sip:caller@127.0.0.1:${o.port}>;tag=${o.fromTag}`,
    `To: ${o.to}`,
    `Call-ID: ${o.callId}`,
    `CSeq: ${o.cseq} ${o.method}`,
    `Contact: <sip:caller@127.0.0.1:${o.port}>`,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n')
}

/** A new call's INVITE from a caller at `port` (fresh branch and From tag, To without a tag, CSeq 1). */
export function newInvite(o: { ruri: string; port: number; callId: string }): string {
  return sipRequest({
    method: 'INVITE',
    ruri: o.ruri,
    port: o.port,
    branch: newBranch(),
    fromTag: randomBytes(4).toString('hex'),
    to: `<${o.ruri}>`,
    callId: o.callId,
    cseq: 1,
  })
}

/** A callee's response to `req` (its Vias, From, To with `toTag`, Call-ID, CSeq). */
export function sipResponse(
  req: SipRequest,
  status: number,
  reason: string,
  toTag: string,
  port: number,
): string {
  const to = req.header('to') ?? ''
  return [
    `SIP/2.0 ${status} ${reason}`,
    ...req.headerValues('via').map((v) => `Via: ${v}`),
    `From: ${req.header('from')}`,
    `To: ${/;\s*tag=/i.test(to) ? to : `${to};tag=${toTag}`}`,
    `Call-ID: ${req.callId}`,
    `CSeq: ${req.header('cseq')}`,
    `Contact: <sip:callee@127.0.0.1:${port}>`,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n')
}
