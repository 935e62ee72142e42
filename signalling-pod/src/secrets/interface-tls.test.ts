import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { listYamlFiles, loadObjects } from '../../../cli/load-objects.ts'
import { compile } from '../../../lib/config/compile/compile.ts'
import type { InterfaceConfig } from '../../../lib/config/model.ts'
import { createTestCa, type TestCa } from '../../../test/harness/test-ca.ts'
import { interfaceTlsSettings } from './interface-tls.ts'
import { objectSecretResolver, SecretError } from './secret-resolver.ts'

const iface = (tls: Partial<NonNullable<InterfaceConfig['tls']>> | null): InterfaceConfig => ({
  name: 'si-webex',
  network: 'WAN',
  bindAddress: '127.0.0.1',
  listeners: [{ transport: 'TLS', port: 5062 }],
  tls:
    tls === null
      ? null
      : {
          certificate: { secret: 'sbc1-tls', key: 'tls.crt' },
          privateKey: { secret: 'sbc1-tls', key: 'tls.key' },
          clientCA: { secret: 'webex-client-ca', key: 'ca.crt' },
          mutualAuth: true,
          minVersion: 'TLSv1.3',
          groups: ['X25519', 'P-256', 'P-384', 'X448'],
          cipherSuites: [],
          serverName: 'sbc1.uclab.dev',
          ...tls,
        },
  advertised: { address: null, fqdn: 'sbc1.uclab.dev' },
  mediaRealm: 'mr-webex',
  exposure: { mode: 'HostPort', serviceType: 'LoadBalancer', loadBalancerIP: null },
})

const code = (c: string) => (e: unknown) => e instanceof SecretError && e.code === c

describe('TLS settings of a SipInterface from its Secrets', function () {
  this.timeout(20_000)
  let ca: TestCa
  let secrets: (over?: Record<string, Record<string, string>>) => ReturnType<typeof objectSecretResolver>

  before(async () => {
    ca = await createTestCa()
    const data = {
      'sbc1-tls': {
        'tls.crt': await readFile(ca.server.cert, 'utf8'),
        'tls.key': await readFile(ca.server.key, 'utf8'),
      },
      'webex-client-ca': { 'ca.crt': await readFile(ca.caCert, 'utf8') },
    }
    secrets = (over = {}) =>
      objectSecretResolver(
        Object.entries({ ...data, ...over }).map(([name, stringData]) => ({
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name },
          stringData,
        })),
      )
  })
  after(async () => ca?.cleanup())

  it('maps the uclab Webex interface: mutual TLS against the client CA, TLS 1.3, its groups', () => {
    const s = interfaceTlsSettings(iface({}), secrets())
    assert.equal(s.clientAuth, 'require')
    assert.equal(s.minVersion, 'TLSv1.3')
    assert.equal(s.groups, 'X25519:P-256:P-384:X448')
    assert.ok(s.ca && 'pem' in s.ca && s.ca.pem.toString().includes('BEGIN CERTIFICATE'))
  })

  it('refuses material OpenSSL refuses, and references to nothing, with stable codes', () => {
    assert.throws(() => interfaceTlsSettings(iface(null), secrets()), code('SBC_ERR_SECRET_NOT_FOUND'))
    assert.throws(
      () => interfaceTlsSettings(iface({ clientCA: null }), secrets()),
      code('SBC_ERR_SECRET_NOT_FOUND'),
    )
    assert.throws(
      () => interfaceTlsSettings(iface({}), secrets({ 'webex-client-ca': {} })),
      code('SBC_ERR_SECRET_NOT_FOUND'),
    )
    assert.throws(
      () => interfaceTlsSettings(iface({}), secrets({ 'webex-client-ca': { 'ca.crt': 'garbage' } })),
      code('SBC_ERR_SECRET_INVALID'),
    )
    assert.throws(
      () => interfaceTlsSettings(iface({ groups: ['NOT-A-GROUP'] }), secrets()),
      code('SBC_ERR_SECRET_INVALID'),
    )
    assert.throws(
      () => interfaceTlsSettings(iface({ cipherSuites: ['NOT-A-CIPHER'], minVersion: 'TLSv1.2' }), secrets()),
      code('SBC_ERR_SECRET_INVALID'),
    )
  })

  it('refuses a key that does not belong to the certificate', async () => {
    const other = await readFile(ca.client.key, 'utf8')
    const s = secrets({
      'sbc1-tls': { 'tls.crt': await readFile(ca.server.cert, 'utf8'), 'tls.key': other },
    })
    assert.throws(() => interfaceTlsSettings(iface({}), s), code('SBC_ERR_SECRET_INVALID'))
  })

  it('reads the uclab lab Secrets for si-webex and si-twilio (what kube-sbc run does with examples/uclab)', () => {
    const dir = join(fileURLToPath(import.meta.url), '..', '..', '..', '..', 'examples', 'uclab')
    const objects = loadObjects(listYamlFiles([dir])).objects.map((o) => o.object)
    const { config } = compile(objects, { generation: 1 })
    const resolver = objectSecretResolver(objects)
    const webex = config.interfaces.find((i) => i.name === 'si-webex')
    const twilio = config.interfaces.find((i) => i.name === 'si-twilio')
    assert.ok(webex && twilio)
    assert.equal(interfaceTlsSettings(webex, resolver).clientAuth, 'require')
    assert.equal(interfaceTlsSettings(twilio, resolver).clientAuth, 'off')
  })
})
