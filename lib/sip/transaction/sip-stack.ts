import type { Logger } from '../../observability/logger.ts'
import type { SipParseOptions } from '../message/parse.ts'
import { type ListenSpec, SipEndpoint } from '../transport/sip-endpoint.ts'
import type { Clock, TimerSettings } from './timers.ts'
import { TransactionLayer, type TransactionLayerDelegate } from './transaction-layer.ts'

/** Options of {@link SipStack.start}. */
export interface SipStackOptions {
  readonly listen: readonly ListenSpec[]
  /** The transaction user: new requests, 2xx ACKs, CANCELs, stray responses. */
  readonly delegate: TransactionLayerDelegate
  readonly clock?: Clock
  readonly timers?: TimerSettings
  readonly tryingDelayMs?: number
  readonly parse?: SipParseOptions
  readonly logger?: Logger
}

/**
 * Transports, parser and transaction layer wired together: inbound requests go through the layer
 * with their RFC 3261 §18.2.2 response destination, responses to client transactions, and every
 * transaction sends through the endpoint. This is the wiring a TU (the B2BUA) starts from.
 */
export class SipStack {
  readonly endpoint: SipEndpoint
  readonly layer: TransactionLayer

  private constructor(endpoint: SipEndpoint, layer: TransactionLayer) {
    this.endpoint = endpoint
    this.layer = layer
  }

  static async start(options: SipStackOptions): Promise<SipStack> {
    let endpoint: SipEndpoint | undefined
    const layer = new TransactionLayer({
      delegate: options.delegate,
      send: (message, destination, done) => {
        if (endpoint) endpoint.transmit(message, destination, done)
        else queueMicrotask(() => done(new Error('SIP stack not started')))
      },
      ...(options.clock ? { clock: options.clock } : {}),
      ...(options.timers ? { timers: options.timers } : {}),
      ...(options.tryingDelayMs === undefined ? {} : { tryingDelayMs: options.tryingDelayMs }),
      ...(options.logger ? { logger: options.logger } : {}),
    })
    endpoint = await SipEndpoint.start({
      listen: options.listen,
      delegate: {
        onRequest: (request, context) => layer.receiveRequest(request, context.responseDestination),
        onResponse: (response) => layer.receiveResponse(response),
      },
      ...(options.parse ? { parse: options.parse } : {}),
      ...(options.logger ? { logger: options.logger } : {}),
    })
    return new SipStack(endpoint, layer)
  }

  /** Ends every transaction and closes every transport. */
  async close(): Promise<void> {
    this.layer.dispose()
    await this.endpoint.close()
  }
}
