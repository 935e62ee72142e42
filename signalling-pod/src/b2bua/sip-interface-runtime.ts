import { createHash } from 'node:crypto'
import type { InterfaceConfig } from '../../../lib/config/model.ts'
import type { Logger } from '../../../lib/observability/logger.ts'
import type { SipRequest, SipResponse } from '../../../lib/sip/message/message.ts'
import {
  TransactionLayer as Layer,
  type TransactionLayer,
  type TransactionLayerDelegate,
} from '../../../lib/sip/transaction/transaction-layer.ts'
import { type InboundContext, type ListenSpec, SipEndpoint } from '../../../lib/sip/transport/sip-endpoint.ts'
import type { TlsSettings } from '../../../lib/sip/transport/tls-settings.ts'
import type { Destination, TransportProtocol } from '../../../lib/sip/transport/transport.ts'
import { interfaceTlsSettings } from '../secrets/interface-tls.ts'
import {
  fileSecretResolver,
  SecretError,
  SecretErrorCode,
  type SecretResolver,
} from '../secrets/secret-resolver.ts'

/** What the B2BUA gets per interface: a request with where it came from, or a response. */
export interface InterfaceDelegate {
  /** Builds the transaction-layer delegate of one interface. */
  layerDelegate(iface: SipInterfaceRuntime): TransactionLayerDelegate
}

/** Options of {@link SipInterfaceRuntime.start}. */
export interface SipInterfaceRuntimeOptions {
  /** Where TLS listeners read their certificate, key and CA; default the mounted Secrets. */
  secrets?: SecretResolver
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
  /**
   * Why the interface has no listeners: its TLS material could not be read or used. The interface
   * stays in the config (so the rest of the generation applies) but neither accepts nor sends.
   */
  readonly failure: SecretError | undefined
  readonly #host: string
  readonly #advertised: string
  /** TLS server names (SNI, RFC 6066 §3) of the peers this interface sends to, by `address:port`. */
  readonly #serverNames = new Map<string, string>()
  /** The TLS material the listeners serve (undefined without TLS listeners). */
  #tls: TlsSettings | undefined
  /** The material last refused by {@link reloadTls}, so a Secret that stays bad is reported once. */
  #refused: string | undefined

  private constructor(
    config: InterfaceConfig,
    endpoint: SipEndpoint,
    layer: TransactionLayer,
    host: string,
    failure: SecretError | undefined,
    tls: TlsSettings | undefined,
  ) {
    this.name = config.name
    this.config = config
    this.endpoint = endpoint
    this.layer = layer
    this.failure = failure
    this.#tls = tls
    this.#host = host
    this.#advertised = config.advertised.address ?? config.advertised.fqdn ?? host
  }

  static async start(
    config: InterfaceConfig,
    delegate: InterfaceDelegate,
    logger: Logger,
    podAddress: string,
    options: SipInterfaceRuntimeOptions = {},
  ): Promise<SipInterfaceRuntime> {
    let listen: ListenSpec[] = []
    let failure: SecretError | undefined
    let tlsInForce: TlsSettings | undefined
    for (const l of config.listeners) {
      if (l.transport === 'UDP') listen.push({ protocol: 'udp', address: config.bindAddress, port: l.port })
      else if (l.transport === 'TCP')
        listen.push({ protocol: 'tcp', address: config.bindAddress, port: l.port })
      else if (!failure) {
        try {
          tlsInForce ??= interfaceTlsSettings(config, options.secrets ?? fileSecretResolver())
          listen.push({ protocol: 'tls', address: config.bindAddress, port: l.port, tls: tlsInForce })
        } catch (err) {
          if (!(err instanceof SecretError)) throw err
          failure = err
        }
      }
    }
    if (failure) {
      // The whole interface stays down: half of it (say TCP without its TLS) would be a surprise.
      logger.error(
        { sipInterface: config.name, code: failure.code, err: failure.message },
        'SipInterface not started: its TLS material is missing or unusable',
      )
      listen = []
      tlsInForce = undefined
    }
    let rt: SipInterfaceRuntime | undefined
    const layer: TransactionLayer = new Layer({
      send: (message, destination, done) =>
        endpoint.transmit(message, rt ? rt.#named(destination) : destination, done),
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
    rt = new SipInterfaceRuntime(config, endpoint, layer, host, failure, tlsInForce)
    return rt
  }

  /**
   * Reads the interface's TLS Secret material again and, when it changed, hands it to the
   * listeners (a renewed certificate: new connections get it, established ones keep theirs).
   * `refused` (with the SecretError) when the new material is unusable: the listeners keep serving
   * the material in force; `repeated` tells that this same material was refused before.
   * `none` for an interface without TLS listeners or one that could not start.
   */
  reloadTls(secrets: SecretResolver): TlsReload {
    if (this.#tls === undefined) return { result: 'none' }
    let next: TlsSettings
    try {
      next = interfaceTlsSettings(this.config, secrets)
      if (sameMaterial(next, this.#tls)) {
        this.#refused = undefined
        return { result: 'unchanged' }
      }
      try {
        this.endpoint.setTls(next)
      } catch (err) {
        throw new SecretError(
          SecretErrorCode.invalid,
          `SipInterface ${this.name}: ${(err as Error).message}`,
          {
            cause: err,
          },
        )
      }
    } catch (err) {
      if (!(err instanceof SecretError)) throw err
      const seen = materialKey(this.config, secrets)
      const repeated = seen !== undefined && seen === this.#refused
      this.#refused = seen
      return { result: 'refused', error: err, repeated }
    }
    this.#tls = next
    this.#refused = undefined
    return { result: 'applied', certificate: pemOf(next.certificate) }
  }

  /**
   * Remembers the host name a TLS peer was resolved from, so every connection this interface opens
   * to it presents that name in SNI and checks the server certificate against it (RFC 5922 §4:
   * the identity to match is the domain of the SIP URI, not an address).
   */
  rememberServerName(address: string, port: number, serverName: string): void {
    this.#serverNames.set(`${address}:${port}`, serverName)
  }

  #named(d: Destination): Destination {
    if (d.transport !== 'tls' || d.serverName !== undefined) return d
    const serverName = this.#serverNames.get(`${d.address}:${d.port}`)
    return serverName === undefined ? d : { ...d, serverName }
  }

  /** Sends outside a transaction (ACK for a 2xx), with the peer's TLS server name. */
  send(message: SipRequest | SipResponse, destination: Destination): Promise<void> {
    return this.endpoint.send(message, this.#named(destination))
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

/** What {@link SipInterfaceRuntime.reloadTls} did. */
export type TlsReload =
  | { readonly result: 'none' | 'unchanged' }
  | { readonly result: 'applied'; readonly certificate: Buffer }
  | { readonly result: 'refused'; readonly error: SecretError; readonly repeated: boolean }

function pemOf(p: TlsSettings['certificate'] | undefined): Buffer {
  if (p === undefined || !('pem' in p)) return Buffer.alloc(0)
  return typeof p.pem === 'string' ? Buffer.from(p.pem) : p.pem
}

/** Whether two settings carry the same certificate, key and CA (the rest comes from the config). */
function sameMaterial(a: TlsSettings, b: TlsSettings): boolean {
  return (
    pemOf(a.certificate).equals(pemOf(b.certificate)) &&
    pemOf(a.privateKey).equals(pemOf(b.privateKey)) &&
    pemOf(a.ca).equals(pemOf(b.ca))
  )
}

/** A digest of the Secret keys as they are now, whatever their state; undefined when one is unreadable. */
function materialKey(config: InterfaceConfig, secrets: SecretResolver): string | undefined {
  const t = config.tls
  if (t === null) return undefined
  const h = createHash('sha256')
  try {
    for (const ref of [t.certificate, t.privateKey, ...(t.clientCA ? [t.clientCA] : [])])
      h.update(secrets.read(ref))
  } catch {
    return 'unreadable'
  }
  return h.digest('hex')
}

function hostPart(h: string): string {
  return h.includes(':') && !h.startsWith('[') ? `[${h}]` : h
}
