import { randomBytes } from 'node:crypto'
import { createSocket, type Socket } from 'node:dgram'
import { type SipRequest, SipResponse } from '../../lib/sip/message/message.ts'
import { parse } from '../../lib/sip/message/parse.ts'

/** How a {@link SipUa} answers a request: status, SDP, and the user part of its Contact ("ua"). */
export interface Answer {
  status: number
  sdp?: string
  contact?: string
}

/**
 * A small UDP SIP user agent on 127.0.0.1 for the media tests: it plays one side of a call with the
 * SDP the test gives it (SIPp cannot hand the test the SBC's a=crypto key at run time), so the test
 * can drive RTP/SRTP itself. RFC 3261 minimum: INVITE/ACK/BYE, no retransmission of its own requests
 * (loopback), retransmitted requests from the SBC answered again.
 */
export class SipUa {
  readonly socket: Socket
  readonly port: number
  /** Every message received, in order. */
  readonly received: (SipRequest | SipResponse)[] = []
  /** When each message in {@link received} arrived (Date.now()). */
  readonly receivedAt: number[] = []
  private readonly waiters: (() => void)[] = []
  /** Responses already sent, by request key, to answer retransmissions. */
  private readonly answered = new Map<string, Buffer>()
  /** The response sent to each request received, and where: {@link answerAgain}. */
  private readonly answers = new WeakMap<SipRequest, { out: Buffer; port: number }>()
  private autoAnswer: ((req: SipRequest) => Answer | undefined) | undefined

  private constructor(socket: Socket) {
    this.socket = socket
    this.port = socket.address().port
    socket.on('message', (buf, rinfo) => {
      let msg: SipRequest | SipResponse
      try {
        msg = parse(buf) as SipRequest | SipResponse
      } catch {
        return
      }
      if (!(msg instanceof SipResponse)) {
        const key = `${msg.callId} ${msg.header('cseq')} ${msg.header('via')}`
        const again = this.answered.get(key)
        if (again) {
          socket.send(again, rinfo.port, rinfo.address)
          return
        }
        const a = msg.method === 'ACK' ? undefined : this.autoAnswer?.(msg)
        if (a) {
          const out = this.response(msg, a.status, a.sdp, a.contact)
          this.answered.set(key, out)
          this.answers.set(msg, { out, port: rinfo.port })
          socket.send(out, rinfo.port, rinfo.address)
        }
      }
      this.received.push(msg)
      this.receivedAt.push(Date.now())
      for (const w of this.waiters.splice(0)) w()
    })
  }

  /** Binds `port` (0: any) on 127.0.0.1. */
  static async open(port = 0): Promise<SipUa> {
    const s = createSocket('udp4')
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject)
      s.bind(port, '127.0.0.1', () => resolve())
    })
    return new SipUa(s)
  }

  /** How requests are answered: BYE 200 by default; INVITE as `answer` says (undefined: ignored). */
  answerWith(answer: (req: SipRequest) => Answer | undefined): void {
    this.autoAnswer = (req) => (req.method === 'BYE' ? { status: 200 } : answer(req))
  }

  /**
   * Sends the response given to `req` once more, as a UA does with a 2xx whose ACK it has not seen
   * (RFC 3261 §13.3.1.4): the test decides when, e.g. after the ACK came, as if it had been lost.
   */
  async answerAgain(req: SipRequest): Promise<void> {
    const a = this.answers.get(req)
    if (!a) throw new Error(`no response was sent to ${req.method} ${req.header('cseq')}`)
    await this.send(a.out, a.port)
  }

  /** Waits for the first message received matching `pred` (bounded). */
  async waitFor<T extends SipRequest | SipResponse>(
    pred: (m: SipRequest | SipResponse) => boolean,
    what: string,
    timeoutMs = 10_000,
  ): Promise<T> {
    const until = Date.now() + timeoutMs
    for (;;) {
      const m = this.received.find(pred)
      if (m) return m as T
      const left = until - Date.now()
      if (left <= 0) throw new Error(`no ${what} within ${timeoutMs} ms`)
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.min(left, 200))
        this.waiters.push(() => {
          clearTimeout(t)
          r()
        })
      })
    }
  }

  request(method: string): (m: SipRequest | SipResponse) => boolean {
    return (m) => !(m instanceof SipResponse) && m.method === method
  }

  private response(req: SipRequest, status: number, sdp?: string, contact = 'ua'): Buffer {
    const reason = status === 200 ? 'OK' : status === 180 ? 'Ringing' : 'Response'
    const to = req.header('to') ?? ''
    const lines = [
      `SIP/2.0 ${status} ${reason}`,
      ...req.headerValues('via').map((v) => `Via: ${v}`),
      `From: ${req.header('from')}`,
      `To: ${/;\s*tag=/i.test(to) ? to : `${to};tag=${this.tag}`}`,
      `Call-ID: ${req.callId}`,
      `CSeq: ${req.header('cseq')}`,
      `Contact: <sip:${contact}@127.0.0.1:${this.port}>`,
    ]
    return this.build(lines, sdp)
  }

  private readonly tag = randomBytes(4).toString('hex')

  private build(lines: string[], sdp?: string): Buffer {
    const body = sdp ?? ''
    if (sdp) lines.push('Content-Type: application/sdp')
    lines.push(`Content-Length: ${Buffer.byteLength(body)}`, '', body)
    return Buffer.from(lines.join('\r\n'))
  }

  private send(buf: Buffer, port: number): Promise<void> {
    return new Promise((resolve, reject) =>
      this.socket.send(buf, port, '127.0.0.1', (e) => (e ? reject(e) : resolve())),
    )
  }

  /**
   * Sends an INVITE to the SBC at `sbcPort` and waits for its final response (ACKed when 2xx).
   * Returns the final response and a `bye()` that ends the call.
   */
  async invite(
    sbcPort: number,
    sdp: string,
    user = 'callee',
    /** Late offer (`sdp` empty): the answer to the 2xx's offer, sent in the ACK. */
    ackSdp?: (offer: string) => string,
  ): Promise<{
    final: SipResponse
    bye: () => Promise<SipResponse>
    /** `sdp` empty: an offerless re-INVITE, whose 2xx's offer `ackSdp` answers in the ACK. */
    reinvite: (sdp: string, ackSdp?: (offer: string) => string) => Promise<SipResponse>
    /** An in-dialog request without body (INFO, OPTIONS, ...): its final response. */
    send: (method: string) => Promise<SipResponse>
  }> {
    const callId = `${randomBytes(6).toString('hex')}@ua`
    const fromTag = randomBytes(4).toString('hex')
    const branch = () => `z9hG4bK${randomBytes(6).toString('hex')}`
    const head = (method: string, ruri: string, cseq: number, to: string) => [
      `${method} ${ruri} SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${this.port};branch=${branch()};rport`,
      'Max-Forwards: 70',
      `From: <sip:caller@127.0.0.1:${this.port}>;tag=${fromTag}`,
      `To: ${to}`,
      `Call-ID: ${callId}`,
      `CSeq: ${cseq} ${method}`,
    ]
    const ruri = `sip:${user}@127.0.0.1:${sbcPort}`
    await this.send(
      this.build(
        [...head('INVITE', ruri, 1, `<${ruri}>`), `Contact: <sip:caller@127.0.0.1:${this.port}>`],
        sdp,
      ),
      sbcPort,
    )
    const final = await this.waitFor<SipResponse>(
      (m) => m instanceof SipResponse && m.callId === callId && m.status >= 200,
      'final response to the INVITE',
    )
    const to = final.header('to') ?? ''
    const target = /<([^>]+)>/.exec(final.header('contact') ?? '')?.[1] ?? ruri
    if (final.status < 300)
      await this.send(
        this.build(head('ACK', target, 1, to), ackSdp ? ackSdp(final.body.toString('utf8')) : undefined),
        sbcPort,
      )
    let cseq = 1
    return {
      final,
      reinvite: async (offer: string, answerInAck?: (offer: string) => string) => {
        const n = ++cseq
        await this.send(
          this.build(
            [...head('INVITE', target, n, to), `Contact: <sip:caller@127.0.0.1:${this.port}>`],
            offer,
          ),
          sbcPort,
        )
        const r = await this.waitFor<SipResponse>(
          (m) =>
            m instanceof SipResponse &&
            m.callId === callId &&
            m.status >= 200 &&
            m.header('cseq') === `${n} INVITE`,
          're-INVITE final response',
          // A re-anchoring re-INVITE first waits out the NG timeout toward the dead media pod.
          30_000,
        )
        if (r.status < 300)
          await this.send(
            this.build(head('ACK', target, n, to), answerInAck?.(r.body.toString('utf8'))),
            sbcPort,
          )
        return r
      },
      send: async (method: string) => {
        const n = ++cseq
        await this.send(this.build(head(method, target, n, to)), sbcPort)
        return this.waitFor<SipResponse>(
          (m) =>
            m instanceof SipResponse &&
            m.callId === callId &&
            m.status >= 200 &&
            m.header('cseq') === `${n} ${method}`,
          `final response to the ${method}`,
        )
      },
      bye: async () => {
        await this.send(this.build(head('BYE', target, ++cseq, to)), sbcPort)
        return this.waitFor<SipResponse>(
          (m) =>
            m instanceof SipResponse && m.callId === callId && m.header('cseq')?.includes('BYE') === true,
          'answer to the BYE',
        )
      },
    }
  }

  close(): void {
    this.socket.close()
  }
}
