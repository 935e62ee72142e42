import { createResponse, generateTag } from '../message/create-response.ts'
import type { SipRequest } from '../message/message.ts'
import type { ListenSpec, SipEndpoint } from '../transport/sip-endpoint.ts'
import { SipStack } from './sip-stack.ts'
import type { Clock, TimerSettings } from './timers.ts'
import type { ServerTransaction, TransactionLayer } from './transaction-layer.ts'

/** What the responder saw, for assertions. */
export interface ResponderStats {
  options: number
  invites: number
  acks: number
  byes: number
}

/**
 * A minimal UAS for tests with real peers (SIPp, sipsak), built only from the real {@link SipStack}
 * (transports, parser, transaction layer): OPTIONS → 200; INVITE → 180 then 200 with Contact; ACK of the 2xx
 * counted; BYE → 200; anything else → 501. It keeps no dialog state: it answers what arrives.
 */
export class TestResponder {
  readonly stats: ResponderStats = { options: 0, invites: 0, acks: 0, byes: 0 }
  readonly endpoint: SipEndpoint
  readonly layer: TransactionLayer

  private constructor(endpoint: SipEndpoint, layer: TransactionLayer) {
    this.endpoint = endpoint
    this.layer = layer
  }

  static async start(
    listen: readonly ListenSpec[],
    options: { clock?: Clock; timers?: TimerSettings } = {},
  ): Promise<TestResponder> {
    let responder: TestResponder | undefined
    const stack = await SipStack.start({
      ...options,
      listen,
      delegate: {
        onRequest: (request, tx) => {
          if (responder) responder.#answer(request, tx)
        },
        onAck: () => {
          if (responder) responder.stats.acks++
        },
      },
    })
    responder = new TestResponder(stack.endpoint, stack.layer)
    return responder
  }

  #answer(request: SipRequest, tx: ServerTransaction): void {
    const toTag = generateTag()
    switch (request.method) {
      case 'OPTIONS':
        this.stats.options++
        tx.respond(createResponse(request, 200, { toTag }))
        return
      case 'INVITE': {
        this.stats.invites++
        tx.respond(createResponse(request, 180, { toTag }))
        const ok = createResponse(request, 200, { toTag })
        const local = this.endpoint.transports.find(
          (t) => t.protocol === request.topVia?.transport.toLowerCase(),
        )
        const host = local?.local.family === 'IPv6' ? `[${local.local.address}]` : local?.local.address
        ok.addHeader(
          'Contact',
          `<sip:responder@${host}:${local?.local.port};transport=${local?.protocol ?? 'udp'}>`,
        )
        tx.respond(ok)
        return
      }
      case 'BYE':
        this.stats.byes++
        tx.respond(createResponse(request, 200, { toTag }))
        return
      default:
        tx.respond(createResponse(request, 501, { toTag }))
    }
  }

  async close(): Promise<void> {
    this.layer.dispose()
    await this.endpoint.close()
  }
}
