import { readFileSync } from 'node:fs'
import type { SecureContextOptions } from 'node:tls'
import { SipTransportError, TransportErrorCode } from './errors.ts'

/** PEM material given inline or as a file path (a mounted Kubernetes Secret, later). */
export type PemSource = { readonly pem: string | Buffer } | { readonly file: string }

/**
 * TLS settings of a SIP interface: one certificate for both directions by default, a CA bundle that
 * authenticates peers, and the protocol knobs the SipInterface CRD exposes.
 */
export interface TlsSettings {
  /** Our certificate chain (server side, and client side unless `clientCertificate` is set). */
  readonly certificate: PemSource
  readonly privateKey: PemSource
  /** CAs that authenticate peers: clients for inbound mTLS, servers for outbound connections. */
  readonly ca?: PemSource
  /**
   * Inbound mutual TLS: `require` asks for a client certificate and refuses the handshake without a
   * valid one; `request` asks but accepts any (exposing `authorized`); `off` does not ask.
   */
  readonly clientAuth?: 'off' | 'request' | 'require'
  /** Outbound: a distinct client certificate to present (e.g. the Webex certificate trunk). */
  readonly clientCertificate?: PemSource
  readonly clientPrivateKey?: PemSource
  /** Outbound: refuse servers whose certificate does not verify against `ca`. Default true. */
  readonly verifyServer?: boolean
  readonly minVersion?: 'TLSv1.2' | 'TLSv1.3'
  /** Highest version offered; default TLS 1.3. Some old SIP stacks mishandle TLS 1.3 session tickets. */
  readonly maxVersion?: 'TLSv1.2' | 'TLSv1.3'
  /** OpenSSL cipher list for TLS 1.2 (TLS 1.3 suites are always on). */
  readonly ciphers?: string
  /** Key-exchange groups in preference order. */
  readonly groups?: string
}

/** The group list the SipInterface CRD defaults to. */
export const defaultTlsGroups = 'X25519:P-256:P-384:X448'

function load(source: PemSource, what: string): string | Buffer {
  if ('pem' in source) return source.pem
  try {
    return readFileSync(source.file)
  } catch (cause) {
    throw new SipTransportError(TransportErrorCode.tlsConfig, `cannot read ${what} from ${source.file}`, {
      cause,
    })
  }
}

/** Resolved node:tls options for both directions. Throws {@link SipTransportError} on unreadable files. */
export interface ResolvedTls {
  readonly server: SecureContextOptions & { requestCert: boolean; rejectUnauthorized: boolean }
  readonly client: SecureContextOptions & { rejectUnauthorized: boolean }
}

/** Reads files and maps settings to node:tls options. Called once per (re)configuration, not per connection. */
export function resolveTls(settings: TlsSettings): ResolvedTls {
  const cert = load(settings.certificate, 'certificate')
  const key = load(settings.privateKey, 'private key')
  const ca = settings.ca ? load(settings.ca, 'CA bundle') : undefined
  const common: SecureContextOptions = {
    minVersion: settings.minVersion ?? 'TLSv1.2',
    maxVersion: settings.maxVersion ?? 'TLSv1.3',
    ecdhCurve: settings.groups ?? defaultTlsGroups,
    ...(settings.ciphers ? { ciphers: settings.ciphers } : {}),
    ...(ca ? { ca } : {}),
  }
  const clientAuth = settings.clientAuth ?? 'off'
  return {
    server: {
      ...common,
      cert,
      key,
      requestCert: clientAuth !== 'off',
      rejectUnauthorized: clientAuth === 'require',
    },
    client: {
      ...common,
      cert: settings.clientCertificate ? load(settings.clientCertificate, 'client certificate') : cert,
      key: settings.clientPrivateKey ? load(settings.clientPrivateKey, 'client private key') : key,
      rejectUnauthorized: settings.verifyServer ?? true,
    },
  }
}
