import type { InterfaceConfig } from '../../../lib/config/model.ts'
import type { Logger } from '../../../lib/observability/logger.ts'
import type { SipRequest, SipResponse } from '../../../lib/sip/message/message.ts'
import {
  TransactionLayer as Layer,
  type TransactionLayer,
  type TransactionLayerDelegate,
} from '../../../lib/sip/transaction/transaction-layer.ts'
import { type InboundContext, type ListenSpec, SipEndpoint } from '../../../lib/sip/transport/sip-endpoint.ts'
import type { TransportProtocol } from '../../../lib/sip/transport/transport.ts'

/** What the B2BUA gets per interface: a request with where it came from, or a response. */
export interface InterfaceDelegate {
  /** Builds the transaction-layer delegate of one interface. */
  layerDelegate(iface: SipInterfaceRuntime): TransactionLayerDelegate
}

/**
 * One SipInterface at run time: its endpoint (listeners), its own transaction layer, and the
 * addresses it puts in Via (this process's listener, so responses come back here) and Contact (the
 * interface's advertised address, so in-dialog requests may land on any process).
 */
export class SipInterfaceRuntime {
  readonly name: string
  readonly config: InterfaceConfig
  readonly endpoint: SipEndpoint
  readonly layer: TransactionLayer
  /** Inbound request → its transport context (source, connection), read by the B2BUA. */
  readonly contexts = new WeakMap<SipRequest, InboundContext>()
  readonly #host: string
  readonly #advertised: string

  private constructor(config: InterfaceConfig, endpoint: SipEndpoint, layer: TransactionLayer, host: string) {
    this.name = config.name
    this.config = config
    this.endpoint = endpoint
    this.layer = layer
    this.#host = host
    this.#advertised = config.advertised.address ?? config.advertised.fqdn ?? host
  }

  static async start(
    config: InterfaceConfig,
    delegate: InterfaceDelegate,
    logger: Logger,
    podAddress: string,
  ): Promise<SipInterfaceRuntime> {
    const listen: ListenSpec[] = []
    for (const l of config.listeners) {
      if (l.transport === 'UDP') listen.push({ protocol: 'udp', address: config.bindAddress, port: l.port })
      else if (l.transport === 'TCP')
        listen.push({ protocol: 'tcp', address: config.bindAddress, port: l.port })
      else logger.warn({ sipInterface: config.name, port: l.port }, 'Skipped TLS listener (not yet wired)')
    }
    let rt: SipInterfaceRuntime | undefined
    const layer: TransactionLayer = new Layer({
      send: (message, destination) => endpoint.send(message, destination),
      delegate: {
        onRequest: (req, tx) => rt && delegate.layerDelegate(rt).onRequest(req, tx),
        onAck: (ack) => rt && delegate.layerDelegate(rt).onAck?.(ack),
        onCancel: (c, tx, inv) => rt && delegate.layerDelegate(rt).onCancel?.(c, tx, inv),
        onStrayResponse: (r: SipResponse) => rt && delegate.layerDelegate(rt).onStrayResponse?.(r),
      },
      // RFC 3261 §17.2.1: 100 Trying after 200 ms unless the TU answers first; a dropped scanner
      // INVITE is disposed before that and never gets an answer.
      tryingDelayMs: 200,
      logger,
    })
    const endpoint: SipEndpoint = await SipEndpoint.start({
      listen,
      logger,
      delegate: {
        onRequest: (request, ctx) => {
          rt?.contexts.set(request, ctx)
          layer.receiveRequest(request, ctx.responseDestination)
        },
        onResponse: (response) => layer.receiveResponse(response),
      },
    })
    const host =
      config.bindAddress === '0.0.0.0' || config.bindAddress === '::' ? podAddress : config.bindAddress
    rt = new SipInterfaceRuntime(config, endpoint, layer, host)
    return rt
  }

  /** The bound port of a transport (the configured one unless it was 0). */
  port(transport: TransportProtocol): number {
    const t = this.endpoint.transports.find((x) => x.protocol === transport)
    return t?.local.port ?? this.endpoint.transports[0]?.local.port ?? 5060
  }

  /** Via sent-by of this process on this interface. */
  via(transport: TransportProtocol, branch: string): string {
    return `SIP/2.0/${transport.toUpperCase()} ${hostPart(this.#host)}:${this.port(transport)};branch=${branch};rport`
  }

  /** Contact URI: the advertised address, so any process behind it can take the next request. */
  contact(transport: TransportProtocol, user: string): string {
    const t = transport === 'udp' ? '' : `;transport=${transport}`
    return `<sip:${user}@${hostPart(this.#advertised)}:${this.port(transport)}${t}>`
  }

  /** Host for From/To URIs we originate. */
  get advertisedHost(): string {
    return hostPart(this.#advertised)
  }

  async close(): Promise<void> {
    this.layer.dispose()
    await this.endpoint.close()
  }
}

function hostPart(h: string): string {
  return h.includes(':') && !h.startsWith('[') ? `[${h}]` : h
}
