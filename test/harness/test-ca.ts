import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)

/** A certificate and its key, as file paths in the CA's temp dir. */
export interface TestCertificate {
  readonly cert: string
  readonly key: string
  /** The certificate followed by its key in one PEM file (what sipsak's --tls-client-cert wants). */
  readonly combined: string
}

/** Certificates for TLS tests, made by the real openssl binary into a temp dir. */
export interface TestCa {
  readonly dir: string
  /** The CA that issued `server`, `client` and `expiredClient`. */
  readonly caCert: string
  /** CN sbc.test, SANs DNS:sbc.test, IP:127.0.0.1, IP:::1. */
  readonly server: TestCertificate
  /** Like `server` (same names, same CA) with its own key and serial: a renewal, as cert-manager makes. */
  readonly renewedServer: TestCertificate
  /** CN client.test, SANs DNS:client.test, DNS:trunk.client.test (the Webex-style trunk certificate). */
  readonly client: TestCertificate
  /** CN b.example, SAN DNS:a.example: its SIP identity is a.example, not the CN (RFC 5922 §7.1). */
  readonly sanOverCnClient: TestCertificate
  /** CN d.example, SANs URI:sip:c.example, DNS:e.example: its SIP identity is c.example only. */
  readonly sipUriClient: TestCertificate
  /** CN rogue.test, issued by another CA the server does not trust. */
  readonly unknownCaClient: TestCertificate
  /** CN expired.test, issued by the CA but already expired. */
  readonly expiredClient: TestCertificate
  /** Removes the temp dir. */
  cleanup(): Promise<void>
}

const keyArgs = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes']

async function makeCa(dir: string, name: string): Promise<{ cert: string; key: string }> {
  const cert = join(dir, `${name}.crt`)
  const key = join(dir, `${name}.key`)
  await run('openssl', [
    'req',
    '-x509',
    ...keyArgs,
    '-keyout',
    key,
    '-out',
    cert,
    '-days',
    '2',
    '-subj',
    `/CN=${name}`,
  ])
  return { cert, key }
}

let serial = 1000

async function issue(
  dir: string,
  ca: { cert: string; key: string },
  name: string,
  cn: string,
  sans: string[],
  days: number,
  usage: 'serverAuth' | 'clientAuth',
): Promise<TestCertificate> {
  const key = join(dir, `${name}.key`)
  const csr = join(dir, `${name}.csr`)
  const cert = join(dir, `${name}.crt`)
  const ext = join(dir, `${name}.ext`)
  await writeFile(ext, `subjectAltName=${sans.join(',')}\nextendedKeyUsage=${usage}\n`)
  await run('openssl', ['req', ...keyArgs, '-keyout', key, '-out', csr, '-subj', `/CN=${cn}`])
  await run('openssl', [
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    ca.cert,
    '-CAkey',
    ca.key,
    '-set_serial',
    String(serial++),
    // A negative validity makes notAfter lie in the past: an expired certificate.
    '-days',
    String(days),
    '-extfile',
    ext,
    '-out',
    cert,
  ])
  const combined = join(dir, `${name}.pem`)
  await run('sh', ['-c', `cat "${cert}" "${key}" > "${combined}"`])
  return { cert, key, combined }
}

/** Generates a fresh CA and its certificates with openssl (about a second on our machines). */
export async function createTestCa(): Promise<TestCa> {
  const dir = await mkdtemp(join(tmpdir(), 'kube-sbc-ca-'))
  try {
    const ca = await makeCa(dir, 'test-ca')
    const other = await makeCa(dir, 'other-ca')
    const serverNames = ['DNS:sbc.test', 'IP:127.0.0.1', 'IP:::1']
    const [server, renewedServer, client, unknownCaClient, expiredClient, sanOverCnClient, sipUriClient] =
      await Promise.all([
        issue(dir, ca, 'server', 'sbc.test', serverNames, 2, 'serverAuth'),
        issue(dir, ca, 'server-renewed', 'sbc.test', serverNames, 2, 'serverAuth'),
        issue(
          dir,
          ca,
          'client',
          'client.test',
          ['DNS:client.test', 'DNS:trunk.client.test'],
          2,
          'clientAuth',
        ),
        issue(dir, other, 'rogue', 'rogue.test', ['DNS:rogue.test'], 2, 'clientAuth'),
        issue(dir, ca, 'expired', 'expired.test', ['DNS:expired.test'], -1, 'clientAuth'),
        issue(dir, ca, 'san-over-cn', 'b.example', ['DNS:a.example'], 2, 'clientAuth'),
        issue(dir, ca, 'sip-uri', 'd.example', ['URI:sip:c.example', 'DNS:e.example'], 2, 'clientAuth'),
      ])
    return {
      dir,
      caCert: ca.cert,
      server,
      renewedServer,
      client,
      unknownCaClient,
      expiredClient,
      sanOverCnClient,
      sipUriClient,
      cleanup: () => rm(dir, { recursive: true, force: true }),
    }
  } catch (error) {
    await rm(dir, { recursive: true, force: true })
    throw error
  }
}
