import { createSecureContext } from 'node:tls'
import type { InterfaceConfig } from '../../../lib/config/model.ts'
import type { TlsSettings } from '../../../lib/sip/transport/tls-settings.ts'
import { SecretError, SecretErrorCode, type SecretResolver } from './secret-resolver.ts'

/**
 * The TLS settings of a SipInterface with its Secret material read and checked: the server
 * certificate and key (`tls.crt`, `tls.key`), the CA bundle (`ca.crt` of `clientCASecretRef`) that
 * authenticates clients inbound (RFC 5630 §3: mutual TLS when `mutualAuth`) and servers outbound,
 * the minimum version, cipher suites and key-exchange groups. Outbound connections present the same
 * certificate as client certificate: that is how a certificate-based trunk (Webex Calling)
 * authenticates the SBC by its FQDN (uclab: "The SBC presents its certificate for sbc1.uclab.dev").
 *
 * Throws {@link SecretError}: `SBC_ERR_SECRET_NOT_FOUND` when a key is missing,
 * `SBC_ERR_SECRET_INVALID` when OpenSSL refuses the material (not PEM, key not matching the
 * certificate, unknown group or cipher).
 */
export function interfaceTlsSettings(iface: InterfaceConfig, secrets: SecretResolver): TlsSettings {
  const t = iface.tls
  if (t === null)
    throw new SecretError(
      SecretErrorCode.notFound,
      `SipInterface ${iface.name} has a TLS listener but no spec.tls (certificate Secret)`,
    )
  const cert = secrets.read(t.certificate)
  const key = secrets.read(t.privateKey)
  const ca = t.clientCA ? secrets.read(t.clientCA) : undefined
  if (t.mutualAuth && !ca)
    throw new SecretError(
      SecretErrorCode.notFound,
      `SipInterface ${iface.name}: mutualAuth needs clientCASecretRef (the CA client certificates are checked against)`,
    )
  const settings: TlsSettings = {
    certificate: { pem: cert },
    privateKey: { pem: key },
    ...(ca ? { ca: { pem: ca } } : {}),
    clientAuth: t.mutualAuth ? 'require' : 'off',
    minVersion: t.minVersion,
    ...(t.cipherSuites.length > 0 ? { ciphers: t.cipherSuites.join(':') } : {}),
    ...(t.groups.length > 0 ? { groups: t.groups.join(':') } : {}),
  }
  check(iface.name, settings, t)
  return settings
}

/** Builds one secure context so bad material fails here, with a code, and not in a listener. */
function check(name: string, s: TlsSettings, t: NonNullable<InterfaceConfig['tls']>): void {
  const pem = (p: TlsSettings['certificate'] | undefined) => (p && 'pem' in p ? p.pem : undefined)
  const where = `SipInterface ${name}`
  try {
    createSecureContext({
      cert: pem(s.certificate),
      key: pem(s.privateKey),
      minVersion: s.minVersion,
      ...(s.ciphers ? { ciphers: s.ciphers } : {}),
      ...(s.groups ? { ecdhCurve: s.groups } : {}),
    })
  } catch (cause) {
    throw new SecretError(
      SecretErrorCode.invalid,
      `${where}: Secret ${t.certificate.secret} (${t.certificate.key}, ${t.privateKey.key}), groups or ciphers rejected by OpenSSL: ${(cause as Error).message}`,
      { cause },
    )
  }
  const ca = pem(s.ca)
  if (ca === undefined) return
  if (!/-----BEGIN CERTIFICATE-----/.test(ca.toString('latin1')))
    throw new SecretError(
      SecretErrorCode.invalid,
      `${where}: Secret ${t.clientCA?.secret} ca.crt holds no PEM certificate`,
    )
  try {
    createSecureContext({ ca })
  } catch (cause) {
    throw new SecretError(
      SecretErrorCode.invalid,
      `${where}: Secret ${t.clientCA?.secret} ca.crt rejected by OpenSSL: ${(cause as Error).message}`,
      { cause },
    )
  }
}
