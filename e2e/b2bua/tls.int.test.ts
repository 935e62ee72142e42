import assert from 'node:assert/strict'
import { X509Certificate } from 'node:crypto'
import { once } from 'node:events'
import { mkdir, mkdtemp, readFile, readlink, rename, rm, symlink, writeFile } from 'node:fs/promises'
import { connect as netConnect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createServer as createTlsServer, type Server, type TLSSocket, connect as tlsConnect } from 'node:tls'
import { parseAllDocuments } from 'yaml'
import { compile } from '../../lib/config/compile/compile.ts'
import { type StartedProcess, startProcess } from '../../test/harness/child-process.ts'
import { freePort } from '../../test/harness/free-port.ts'
import { startSipp } from '../../test/harness/sipp.ts'
import { createTestCa, type TestCa, type TestCertificate } from '../../test/harness/test-ca.ts'
import { ok, root, type Sbc, sample, sbcPorts, scenario, scrape, startDnsmasq, startSbc } from './harness.ts'

/** Signalling only: SDP passes through (media anchoring has its own tests). */
const NO_MEDIA = ['--no-media']

/**
 * TLS SipInterfaces through `kube-sbc run` (RFC 3261 §26.2, RFC 5630): the server certificate and
 * the client CA come from `v1/Secret` objects of the input YAML; mutual TLS refuses clients without
 * a certificate the CA issued; outbound TLS presents the interface certificate (the Webex
 * certificate trunk of the uclab lab) and checks the server's; bad material keeps one interface
 * down while the others serve. Peers: SIPp over TCP behind stunnel4 (OpenSSL) for the TLS caller,
 * a node:tls server in front of a SIPp TCP UAS for the TLS callee, node:tls clients for refusals.
 */

const b64 = async (file: string) => (await readFile(file)).toString('base64')

interface TlsPorts {
  pbx: number
  carrier: number
  http: number
  tlsIn: number
  tlsOut: number
}

async function secretsYaml(ca: TestCa, badCertificate = false, server = ca.server): Promise<string> {
  return `apiVersion: v1
kind: Secret
metadata: { name: sbc-tls, namespace: default }
type: kubernetes.io/tls
data:
  tls.crt: ${badCertificate ? Buffer.from('not a certificate').toString('base64') : await b64(server.cert)}
  tls.key: ${await b64(server.key)}
---
apiVersion: v1
kind: Secret
metadata: { name: trunk-client, namespace: default }
type: kubernetes.io/tls
data:
  tls.crt: ${await b64(ca.client.cert)}
  tls.key: ${await b64(ca.client.key)}
---
apiVersion: v1
kind: Secret
metadata: { name: test-ca, namespace: default }
type: Opaque
data:
  ca.crt: ${await b64(ca.caCert)}
`
}

/**
 * `tls-side` (TLS, mutual auth against the test CA): group `tls-caller`, classified by its peer
 * certificate name client.test, routed to `carrier` (SIPp UAS, UDP). `pbx-side` (UDP): group `pbx`
 * (SIPp UAC) routed to `tls-trunk` on `tls-out` (TLS, certificate of the trunk-client Secret, the
 * test CA to check servers), whose proxy is the node:tls callee.
 */
function configYaml(
  p: TlsPorts,
  uacPort: number,
  uasPort: number,
  calleePort: number,
  secrets: string,
): string {
  return `${secrets}---
apiVersion: sbc.kubesbc.io/v1alpha1
kind: SessionBorderController
metadata: { name: test, namespace: default }
spec: { security: { unclassified: Reject } }
---
apiVersion: sbc.kubesbc.io/v1alpha1
kind: MediaRealm
metadata: { name: media, namespace: default }
spec: { network: LAN, bindAddress: 127.0.0.1, portRange: { min: 40000, max: 40099 }, maxSessions: 50 }
---
apiVersion: sbc.kubesbc.io/v1alpha1
kind: SipInterface
metadata: { name: tls-side, namespace: default }
spec:
  network: WAN
  bindAddress: 127.0.0.1
  listeners: [{ transport: TLS, port: ${p.tlsIn} }]
  tls:
    secretRef: { name: sbc-tls }
    clientCASecretRef: { name: test-ca }
    mutualAuth: true
    minVersion: TLSv1.2
    groups: [X25519, P-256]
  mediaRealmRef: { name: media }
---
apiVersion: sbc.kubesbc.io/v1alpha1
kind: SipInterface
metadata: { name: tls-out, namespace: default }
spec:
  network: WAN
  bindAddress: 127.0.0.1
  listeners: [{ transport: TLS, port: ${p.tlsOut} }]
  tls:
    secretRef: { name: trunk-client }
    clientCASecretRef: { name: test-ca }
    minVersion: TLSv1.3
  mediaRealmRef: { name: media }
---
apiVersion: sbc.kubesbc.io/v1alpha1
kind: SipInterface
metadata: { name: pbx-side, namespace: default }
spec:
  network: LAN
  bindAddress: 127.0.0.1
  listeners: [{ transport: UDP, port: ${p.pbx} }]
  mediaRealmRef: { name: media }
---
apiVersion: sbc.kubesbc.io/v1alpha1
kind: SipInterface
metadata: { name: carrier-side, namespace: default }
spec:
  network: LAN
  bindAddress: 127.0.0.1
  listeners: [{ transport: UDP, port: ${p.carrier} }]
  mediaRealmRef: { name: media }
---
apiVersion: sbc.kubesbc.io/v1alpha1
kind: IPProfile
metadata: { name: default, namespace: default }
spec: { media: { srtp: { mode: Optional }, codecs: [{ name: PCMU }] } }
---
apiVersion: sbc.kubesbc.io/v1alpha1
kind: IPGroup
metadata: { name: tls-caller, namespace: default }
spec:
  sipInterfaceRef: { name: tls-side }
  ipProfileRef: { name: default }
  proxySet: { proxies: [{ address: 127.0.0.2, port: 5061, transport: TLS }] }
  classification:
    fromProxySet: false
    rules: [{ name: by-certificate, peerCertificateNames: [client.test] }]
---
apiVersion: sbc.kubesbc.io/v1alpha1
kind: IPGroup
metadata: { name: carrier, namespace: default }
spec:
  sipInterfaceRef: { name: carrier-side }
  ipProfileRef: { name: default }
  proxySet: { proxies: [{ address: 127.0.0.1, port: ${uasPort}, transport: UDP }] }
---
apiVersion: sbc.kubesbc.io/v1alpha1
kind: IPGroup
metadata: { name: pbx, namespace: default }
spec:
  sipInterfaceRef: { name: pbx-side }
  ipProfileRef: { name: default }
  proxySet: { proxies: [{ address: 127.0.0.1, port: ${uacPort}, transport: UDP }] }
---
apiVersion: sbc.kubesbc.io/v1alpha1
kind: IPGroup
metadata: { name: tls-trunk, namespace: default }
spec:
  sipInterfaceRef: { name: tls-out }
  ipProfileRef: { name: default }
  proxySet: { proxies: [{ address: 127.0.0.1, port: ${calleePort}, transport: TLS }] }
---
apiVersion: sbc.kubesbc.io/v1alpha1
kind: RoutingRule
metadata: { name: options-here, namespace: default }
spec:
  order: 10
  match: { methods: [OPTIONS] }
  action: { reply: { code: 200, reason: OK } }
---
apiVersion: sbc.kubesbc.io/v1alpha1
kind: RoutingRule
metadata: { name: tls-to-carrier, namespace: default }
spec:
  order: 20
  match: { sourceIPGroups: [tls-caller] }
  action: { route: { targets: [{ ipGroup: carrier }] } }
---
apiVersion: sbc.kubesbc.io/v1alpha1
kind: RoutingRule
metadata: { name: pbx-to-tls, namespace: default }
spec:
  order: 30
  match: { sourceIPGroups: [pbx] }
  action: { route: { targets: [{ ipGroup: tls-trunk }] } }
`
}

async function tlsPorts(): Promise<TlsPorts> {
  return { ...(await sbcPorts()), tlsIn: await freePort(), tlsOut: await freePort() }
}

/**
 * A SIPp scenario that says TLS where SIPp would say TCP: stunnel carries SIPp's TCP stream over
 * TLS, so the caller's Via and Contact must name the transport the SBC sees (RFC 3261 §18.2.2
 * answers on the connection; §20.42 the Via names the transport used).
 */
async function overTls(file: string): Promise<string> {
  const text = (await readFile(file, 'latin1'))
    .replaceAll('SIP/2.0/[transport]', 'SIP/2.0/TLS')
    .replaceAll('transport=[transport]', 'transport=tls')
  await writeFile(file, text, 'latin1')
  return file
}

/** stunnel4 in client mode: plain TCP on `accept` → TLS to `connect`, presenting `cert`. */
async function startStunnel(
  accept: number,
  connect: number,
  cert: { cert: string; key: string },
  caFile: string,
): Promise<{ proc: StartedProcess; close(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'sbc-stunnel-'))
  const conf = join(dir, 'stunnel.conf')
  await writeFile(
    conf,
    `foreground = yes
pid =
debug = 5
[sip]
client = yes
accept = 127.0.0.1:${accept}
connect = 127.0.0.1:${connect}
cert = ${cert.cert}
key = ${cert.key}
CAfile = ${caFile}
verifyChain = yes
checkHost = sbc.test
`,
  )
  const proc = startProcess('stunnel4', [conf])
  await proc.waitForOutput(/Configuration successful/, 10_000)
  return {
    proc,
    async close() {
      await proc.stop(2000)
      await rm(dir, { recursive: true, force: true })
    },
  }
}

/** What a node:tls client got: the SIP bytes it read back, and how the connection ended. */
async function tlsProbe(
  port: number,
  options: { cert?: string; key?: string; ca: string; maxVersion?: 'TLSv1.2' | 'TLSv1.3' },
): Promise<{ secure: boolean; received: string; error: string }> {
  const socket: TLSSocket = tlsConnect({
    host: '127.0.0.1',
    port,
    servername: 'sbc.test',
    maxVersion: options.maxVersion ?? 'TLSv1.3',
    ca: await readFile(options.ca),
    ...(options.cert ? { cert: await readFile(options.cert), key: await readFile(options.key!) } : {}),
  })
  let secure = false
  let received = ''
  let error = ''
  socket.on('secureConnect', () => {
    secure = true
    socket.write(
      'OPTIONS sip:sbc.test SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:1;branch=z9hG4bKprobe1\r\n' +
        'From: <sip:probe@client.test>;tag=p1\r\nTo: <sip:sbc.test>\r\nCall-ID: probe-1\r\n' +
        'CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n',
    )
  })
  socket.on('data', (b: Buffer) => {
    received += b.toString('latin1')
    // One whole response is enough: its header block ends with an empty line.
    if (received.includes('\r\n\r\n')) socket.end()
  })
  socket.on('error', (e) => {
    error = e.message
  })
  await new Promise<void>((resolve) => {
    socket.once('close', () => resolve())
    // Bound: a server that neither answers nor closes fails the test instead of hanging it.
    setTimeout(() => socket.destroy(new Error('probe timed out')), 5000).unref()
  })
  return { secure, received, error }
}

/**
 * The TLS callee: a node:tls server asking for a client certificate (RFC 5630 §3, as the Webex
 * edge does), recording what each connection presented, and relaying the bytes to a SIPp UAS on
 * TCP.
 */
async function startTlsCallee(
  ca: TestCa,
  port: number,
  sippPort: number,
): Promise<{
  server: Server
  seen: { names: string; authorized: boolean; sni: string }[]
  aborted: () => number
}> {
  const seen: { names: string; authorized: boolean; sni: string }[] = []
  let aborted = 0
  const server = createTlsServer(
    {
      cert: await readFile(ca.server.cert),
      key: await readFile(ca.server.key),
      ca: await readFile(ca.caCert),
      requestCert: true,
      rejectUnauthorized: false,
    },
    (socket: TLSSocket) => {
      const peer = socket.getPeerCertificate()
      seen.push({
        names: `${peer.subject?.CN ?? ''} ${peer.subjectaltname ?? ''}`,
        authorized: socket.authorized,
        sni: String((socket as TLSSocket & { servername?: string | false }).servername || ''),
      })
      const upstream: Socket = netConnect({ host: '127.0.0.1', port: sippPort })
      socket.pipe(upstream).pipe(socket)
      const end = () => {
        socket.destroy()
        upstream.destroy()
      }
      socket.on('error', end)
      upstream.on('error', end)
      socket.on('close', end)
      upstream.on('close', end)
    },
  )
  // A client refusing the server's certificate aborts the handshake with an alert.
  server.on('tlsClientError', () => aborted++)
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  return { server, seen, aborted: () => aborted }
}

describe('B2BUA over TLS SipInterfaces (kube-sbc run, Secrets from the input YAML)', function () {
  this.timeout(60_000)
  let ca: TestCa
  let sbc: Sbc
  let ports: TlsPorts
  let uacPort: number
  let uasPort: number
  let calleePort: number

  before(async () => {
    ca = await createTestCa()
    ports = await tlsPorts()
    uacPort = await freePort()
    uasPort = await freePort()
    calleePort = await freePort()
    sbc = await startSbc(ports, uacPort, uasPort, {
      extra: NO_MEDIA,
      yaml: configYaml(ports, uacPort, uasPort, calleePort, await secretsYaml(ca)),
    })
  })
  after(async () => {
    await sbc?.close()
    await ca?.cleanup()
  })

  it('relays a call from a mutual-TLS caller (SIPp behind stunnel) to a UDP callee and back', async () => {
    const stunnelPort = await freePort()
    const tunnel = await startStunnel(stunnelPort, ports.tlsIn, ca.client, ca.caCert)
    try {
      const uas = await startSipp({
        scenario: {
          file: await scenario('uas-answer.xml', { HANGUP_START: '', HANGUP_END: '', PAUSE: '200' }),
        },
        transport: 'u1',
        localPort: uasPort,
        calls: 1,
        timeoutSeconds: 15,
      })
      const uac = await startSipp({
        scenario: { file: await overTls(await scenario('uac-callee-hangs-up.xml')) },
        target: `127.0.0.1:${stunnelPort}`,
        transport: 't1',
        localPort: uacPort,
        calls: 1,
        timeoutSeconds: 15,
      })
      const [a, b] = await Promise.all([uac.result(), uas.result()])
      ok(a, 1, 'UAC (TLS through stunnel)')
      ok(b, 1, 'UAS (UDP)')
    } finally {
      await tunnel.close()
    }
    const m = await scrape(ports.http)
    assert.equal(sample(m, 'sbc_sip_interface_up{sip_interface="tls-side",code=""}'), 1)
  })

  it('refuses a TLS client without a certificate, with one of another CA or an expired one; admits the right one', async () => {
    const good = await tlsProbe(ports.tlsIn, { cert: ca.client.cert, key: ca.client.key, ca: ca.caCert })
    assert.match(good.received, /^SIP\/2\.0 200 /, `with the client certificate: ${JSON.stringify(good)}`)
    const refused = [
      ['no', {}],
      ['an unknown CA', { cert: ca.unknownCaClient.cert, key: ca.unknownCaClient.key }],
      ['an expired', { cert: ca.expiredClient.cert, key: ca.expiredClient.key }],
    ] as const
    // TLS 1.2: the server refuses during the handshake, so the client sees the alert.
    for (const [what, cert] of refused) {
      const r = await tlsProbe(ports.tlsIn, { ...cert, ca: ca.caCert, maxVersion: 'TLSv1.2' })
      assert.equal(r.secure, false, `TLS 1.2 handshake with ${what} certificate: ${JSON.stringify(r)}`)
      assert.notEqual(r.error, '', 'the handshake was aborted')
      assert.equal(r.received, '')
    }
    // TLS 1.3: the client finishes first (RFC 8446 §4.4.2); the server then aborts, unanswered.
    for (const [what, cert] of refused) {
      const r = await tlsProbe(ports.tlsIn, { ...cert, ca: ca.caCert })
      assert.equal(r.received, '', `TLS 1.3 with ${what} certificate: no SIP answer (${JSON.stringify(r)})`)
    }
  })

  it('sends a UDP caller on over TLS, presenting the interface certificate to a server that asks', async () => {
    const sippPort = await freePort()
    const callee = await startTlsCallee(ca, calleePort, sippPort)
    try {
      const uas = await startSipp({
        scenario: { file: await scenario('uas-answer.xml') },
        transport: 't1',
        localPort: sippPort,
        calls: 1,
        timeoutSeconds: 15,
      })
      await new Promise((r) => setTimeout(r, 200))
      const uac = await startSipp({
        scenario: { file: await scenario('uac-call.xml') },
        target: `127.0.0.1:${ports.pbx}`,
        transport: 'u1',
        localPort: uacPort,
        calls: 1,
        timeoutSeconds: 15,
      })
      const [a, b] = await Promise.all([uac.result(), uas.result()])
      ok(a, 1, 'UAC (UDP)')
      ok(b, 1, 'UAS (TLS through node:tls)')
    } finally {
      await new Promise<void>((r) => callee.server.close(() => r()))
    }
    assert.ok(callee.seen.length >= 1, 'the SBC connected over TLS')
    for (const s of callee.seen) {
      assert.match(s.names, /client\.test/, 'presented the trunk-client certificate')
      assert.equal(s.authorized, true, 'the certificate chains to the CA the server trusts')
    }
  })
})

/**
 * Which names of a client certificate classify (RFC 5922 §7.1): the host of a `sip:` URI SAN, else
 * the DNS SANs, and the CN only when there is no SAN. Groups on `tls-side`, each classified by one
 * peer certificate name; each answers OPTIONS with its own reason phrase (rules before
 * options-here). `by-cn` sorts before `by-san`, so a CN taken as a name would win the tie.
 */
const classifiedBy = `---
apiVersion: sbc.kubesbc.io/v1alpha1
kind: IPGroup
metadata: { name: by-cn, namespace: default }
spec:
  sipInterfaceRef: { name: tls-side }
  ipProfileRef: { name: default }
  proxySet: { proxies: [{ address: 127.0.0.3, port: 5061, transport: TLS }] }
  classification: { fromProxySet: false, rules: [{ name: cn, peerCertificateNames: [b.example, d.example] }] }
---
apiVersion: sbc.kubesbc.io/v1alpha1
kind: IPGroup
metadata: { name: by-san, namespace: default }
spec:
  sipInterfaceRef: { name: tls-side }
  ipProfileRef: { name: default }
  proxySet: { proxies: [{ address: 127.0.0.3, port: 5061, transport: TLS }] }
  classification: { fromProxySet: false, rules: [{ name: san, peerCertificateNames: [a.example, e.example] }] }
---
apiVersion: sbc.kubesbc.io/v1alpha1
kind: IPGroup
metadata: { name: by-uri, namespace: default }
spec:
  sipInterfaceRef: { name: tls-side }
  ipProfileRef: { name: default }
  proxySet: { proxies: [{ address: 127.0.0.3, port: 5061, transport: TLS }] }
  classification: { fromProxySet: false, rules: [{ name: uri, peerCertificateNames: [c.example] }] }
${['by-cn', 'by-san', 'by-uri']
  .map(
    (g, i) => `---
apiVersion: sbc.kubesbc.io/v1alpha1
kind: RoutingRule
metadata: { name: options-${g}, namespace: default }
spec:
  order: ${i + 1}
  match: { sourceIPGroups: [${g}], methods: [OPTIONS] }
  action: { reply: { code: 200, reason: Classified ${g} } }
`,
  )
  .join('')}`

describe('TLS peer names for classification: SIP URI SANs, DNS SANs, then CN (RFC 5922 §7.1)', function () {
  this.timeout(60_000)
  let ca: TestCa
  let sbc: Sbc
  let ports: TlsPorts

  before(async () => {
    ca = await createTestCa()
    ports = await tlsPorts()
    const [uacPort, uasPort, calleePort] = [await freePort(), await freePort(), await freePort()]
    sbc = await startSbc(ports, uacPort, uasPort, {
      extra: NO_MEDIA,
      yaml: configYaml(ports, uacPort, uasPort, calleePort, await secretsYaml(ca)) + classifiedBy,
    })
  })
  after(async () => {
    await sbc?.close()
    await ca?.cleanup()
  })

  const statusWith = async (c: TestCertificate) =>
    (await tlsProbe(ports.tlsIn, { cert: c.cert, key: c.key, ca: ca.caCert })).received.split('\r\n')[0]

  it('takes the DNS SAN, not the CN, of a certificate that has both', async () => {
    assert.equal(await statusWith(ca.sanOverCnClient), 'SIP/2.0 200 Classified by-san')
  })

  it('takes the host of a sip: URI SAN, and then neither the DNS SANs nor the CN', async () => {
    assert.equal(await statusWith(ca.sipUriClient), 'SIP/2.0 200 Classified by-uri')
  })

  it('still takes the CN of a certificate whose SANs repeat it (client.test)', async () => {
    assert.equal(await statusWith(ca.client), 'SIP/2.0 200 OK')
  })
})

describe('A TLS SipInterface with unusable Secret material', function () {
  this.timeout(40_000)

  it('stays down with SBC_ERR_SECRET_INVALID in log and metrics while the other interfaces serve', async () => {
    const ca = await createTestCa()
    const ports = await tlsPorts()
    const uacPort = await freePort()
    const uasPort = await freePort()
    const sbc = await startSbc(ports, uacPort, uasPort, {
      extra: NO_MEDIA,
      yaml: configYaml(ports, uacPort, uasPort, await freePort(), await secretsYaml(ca, true)),
    })
    try {
      assert.match(sbc.proc.output(), /SBC_ERR_SECRET_INVALID/)
      const m = await scrape(ports.http)
      assert.equal(sample(m, 'sbc_sip_interface_up{sip_interface="tls-side",code=""}'), 0)
      assert.equal(
        sample(m, 'sbc_sip_interface_up{sip_interface="tls-side",code="SBC_ERR_SECRET_INVALID"}'),
        1,
      )
      assert.equal(sample(m, 'sbc_sip_interface_up{sip_interface="pbx-side",code=""}'), 1)
      const refused = await tlsProbe(ports.tlsIn, { cert: ca.client.cert, key: ca.client.key, ca: ca.caCert })
      assert.equal(refused.secure, false, 'nothing listens on the interface')
      // The UDP interfaces serve: an OPTIONS gets the local 200.
      const uac = await startSipp({
        scenario: { file: await scenario('uac-options.xml') },
        target: `127.0.0.1:${ports.pbx}`,
        transport: 'u1',
        localPort: uacPort,
        calls: 1,
        timeoutSeconds: 10,
      })
      ok(await uac.result(), 1, 'OPTIONS on the UDP interface')
    } finally {
      await sbc.close()
      await ca.cleanup()
    }
  })
})

describe('Outbound TLS to a proxy named by DNS (A record from dnsmasq)', function () {
  this.timeout(60_000)
  let ca: TestCa
  let dns: StartedProcess
  let dnsPort: number

  before(async () => {
    ca = await createTestCa()
    dnsPort = await freePort()
    // sbc.test is the name in the callee's certificate; wrong.test points at the same server.
    dns = await startDnsmasq(dnsPort, [
      '--host-record=sbc.test,127.0.0.1',
      '--host-record=wrong.test,127.0.0.1',
    ])
  })
  after(async () => {
    await dns?.stop(2000)
    await ca?.cleanup()
  })

  /** One call from a UDP caller to the TLS trunk whose proxy is `name` (resolution A). */
  async function callTrunkNamed(name: string, answers: boolean) {
    const ports = await tlsPorts()
    const uacPort = await freePort()
    const calleePort = await freePort()
    const sippPort = await freePort()
    const proxy = `proxySet: { proxies: [{ address: 127.0.0.1, port: ${calleePort}, transport: TLS }] }`
    const yaml = configYaml(ports, uacPort, await freePort(), calleePort, await secretsYaml(ca))
    assert.ok(yaml.includes(proxy))
    const sbc = await startSbc(ports, uacPort, sippPort, {
      extra: NO_MEDIA,
      yaml: yaml.replace(
        proxy,
        `proxySet: { proxies: [{ address: ${name}, port: ${calleePort}, transport: TLS, resolution: A }] }`,
      ),
      env: { KUBE_SBC_DNS_SERVERS: `127.0.0.1:${dnsPort}` },
    })
    const callee = await startTlsCallee(ca, calleePort, sippPort)
    try {
      const uas = answers
        ? await startSipp({
            scenario: {
              file: await scenario('uas-check.xml', {
                CHECK: `<ereg regexp="INVITE sip:service@${name.replace('.', '\\.')}:${calleePort};transport=tls SIP" search_in="msg" check_it="true" assign_to="ruri" /><log message="[$ruri]" />`,
              }),
            },
            transport: 't1',
            localPort: sippPort,
            calls: 1,
            timeoutSeconds: 15,
          })
        : undefined
      await new Promise((r) => setTimeout(r, 200))
      const uac = await startSipp({
        scenario: {
          file: answers
            ? await scenario('uac-call.xml')
            : await scenario('uac-expect-failure.xml', { STATUS: '503' }),
        },
        target: `127.0.0.1:${ports.pbx}`,
        transport: 'u1',
        localPort: uacPort,
        calls: 1,
        timeoutSeconds: 15,
      })
      const [a, b] = await Promise.all([uac.result(), uas?.result()])
      ok(a, 1, 'UAC')
      if (b) ok(b, 1, 'UAS (TLS through node:tls)')
      return { seen: callee.seen, aborted: callee.aborted() }
    } finally {
      await new Promise<void>((r) => callee.server.close(() => r()))
      await sbc.close()
    }
  }

  it('sends the domain as SNI and in the Request-URI, and accepts the certificate issued to it', async () => {
    const { seen } = await callTrunkNamed('sbc.test', true)
    assert.ok(seen.length >= 1)
    for (const s of seen)
      assert.equal(s.sni, 'sbc.test', 'SNI is the proxy domain (RFC 6066 §3, RFC 5922 §4)')
  })

  it('refuses a server whose certificate does not name the domain: the call fails with 503', async () => {
    const { seen, aborted } = await callTrunkNamed('wrong.test', false)
    assert.deepEqual(seen, [], 'no handshake completed')
    assert.ok(aborted >= 1, 'the SBC aborted the handshake (the same server passes for sbc.test)')
  })
})

describe('TLS material of a pod: mounted Secret files (kube-sbc signalling --config, KUBE_SBC_SECRETS_DIR)', function () {
  this.timeout(40_000)

  it('opens the TLS interface from <dir>/<secret>/<key>; a missing file keeps only that interface down', async () => {
    const ca = await createTestCa()
    const dir = await mkdtemp(join(tmpdir(), 'sbc-pod-'))
    const ports = await tlsPorts()
    let proc: StartedProcess | undefined
    try {
      // The snapshot the operator would publish (no Secret material in it), compiled from the CRs.
      const docs = parseAllDocuments(
        configYaml(ports, await freePort(), await freePort(), await freePort(), await secretsYaml(ca)),
      ).map((d) => d.toJS())
      const { config } = compile(docs, { generation: 1 })
      await writeFile(join(dir, 'snapshot.json'), JSON.stringify(config))
      // What the kubelet mounts: sbc-tls and test-ca; trunk-client is missing on purpose.
      const mount = join(dir, 'secrets')
      for (const [secret, key, file] of [
        ['sbc-tls', 'tls.crt', ca.server.cert],
        ['sbc-tls', 'tls.key', ca.server.key],
        ['test-ca', 'ca.crt', ca.caCert],
      ] as const) {
        await mkdir(join(mount, secret), { recursive: true })
        await writeFile(join(mount, secret, key), await readFile(file))
      }
      proc = startProcess(
        join(root, 'bin', 'kube-sbc'),
        [
          'signalling',
          '--config',
          join(dir, 'snapshot.json'),
          '--no-media',
          '--http-port',
          String(ports.http),
        ],
        { env: { ...process.env, KUBE_SBC_SECRETS_DIR: mount, POD_NAME: `pod-${ports.pbx}` } },
      )
      await proc.waitForOutput(/Started signalling/, 20_000)
      const good = await tlsProbe(ports.tlsIn, { cert: ca.client.cert, key: ca.client.key, ca: ca.caCert })
      assert.match(good.received, /^SIP\/2\.0 200 /, `OPTIONS over mutual TLS: ${JSON.stringify(good)}`)
      assert.match(proc.output(), /SBC_ERR_SECRET_NOT_FOUND/)
      const m = await scrape(ports.http)
      assert.equal(sample(m, 'sbc_sip_interface_up{sip_interface="tls-side",code=""}'), 1)
      assert.equal(
        sample(m, 'sbc_sip_interface_up{sip_interface="tls-out",code="SBC_ERR_SECRET_NOT_FOUND"}'),
        1,
      )
    } finally {
      await proc?.stop(3000)
      await rm(dir, { recursive: true, force: true })
      await ca.cleanup()
    }
  })
})

/**
 * A Secret volume as the kubelet writes it (Kubernetes AtomicWriter): the keys live in a
 * timestamped directory, `..data` points at it, and each key is a symlink through `..data`. An
 * update writes a new directory and renames a new `..data` over the old one in one step.
 */
class KubeletSecretVolume {
  #n = 0
  readonly dir: string
  constructor(dir: string) {
    this.dir = dir
  }

  async write(keys: Record<string, Buffer>): Promise<void> {
    const version = `..2026_11_27_00_00_0${this.#n++}`
    await mkdir(join(this.dir, version), { recursive: true })
    for (const [k, v] of Object.entries(keys)) await writeFile(join(this.dir, version, k), v)
    const tmp = join(this.dir, '..data_tmp')
    await symlink(version, tmp)
    const old = await readlink(join(this.dir, '..data')).catch(() => undefined)
    await rename(tmp, join(this.dir, '..data'))
    for (const k of Object.keys(keys)) await symlink(join('..data', k), join(this.dir, k)).catch(() => {})
    if (old !== undefined) await rm(join(this.dir, old), { recursive: true, force: true })
  }
}

/** A TLS connection with a client certificate; the serial of the certificate the server showed. */
async function tlsSession(port: number, ca: TestCa): Promise<{ socket: TLSSocket; serial: string }> {
  const socket = tlsConnect({
    host: '127.0.0.1',
    port,
    servername: 'sbc.test',
    ca: await readFile(ca.caCert),
    cert: await readFile(ca.client.cert),
    key: await readFile(ca.client.key),
  })
  await once(socket, 'secureConnect')
  return { socket, serial: socket.getPeerCertificate().serialNumber }
}

/** Sends an OPTIONS on an open connection and resolves with the first response's status line. */
async function optionsOn(socket: TLSSocket, n: number): Promise<string> {
  socket.write(
    `OPTIONS sip:sbc.test SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:1;branch=z9hG4bKkeep${n}\r\n` +
      `From: <sip:probe@client.test>;tag=k${n}\r\nTo: <sip:sbc.test>\r\nCall-ID: keep-${n}\r\n` +
      `CSeq: ${n} OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n`,
  )
  let got = ''
  while (!got.includes('\r\n\r\n')) got += ((await once(socket, 'data')) as [Buffer])[0].toString('latin1')
  return got.split('\r\n')[0] ?? ''
}

const serialOf = async (file: string) => new X509Certificate(await readFile(file)).serialNumber

/** Polls until `check` holds, at most `tries` times 100 ms apart; false when it never did. */
async function until(check: () => Promise<boolean>, tries = 100): Promise<boolean> {
  for (let i = 0; i < tries; i++) {
    if (await check()) return true
    await new Promise((r) => setTimeout(r, 100))
  }
  return false
}

describe('Certificate renewal: a mounted Secret updated in place (kube-sbc signalling, KUBE_SBC_SECRETS_DIR)', function () {
  this.timeout(60_000)

  it('serves the renewed certificate to new connections, keeps old ones, refuses bad material, and opens an interface once its Secret appears', async () => {
    const ca = await createTestCa()
    const dir = await mkdtemp(join(tmpdir(), 'sbc-renew-'))
    const ports = await tlsPorts()
    let proc: StartedProcess | undefined
    const open: TLSSocket[] = []
    try {
      const docs = parseAllDocuments(
        configYaml(ports, await freePort(), await freePort(), await freePort(), await secretsYaml(ca)),
      ).map((d) => d.toJS())
      const { config } = compile(docs, { generation: 1 })
      await writeFile(join(dir, 'snapshot.json'), JSON.stringify(config))
      const mount = join(dir, 'secrets')
      const sbcTls = new KubeletSecretVolume(join(mount, 'sbc-tls'))
      await sbcTls.write({
        'tls.crt': await readFile(ca.server.cert),
        'tls.key': await readFile(ca.server.key),
      })
      await new KubeletSecretVolume(join(mount, 'test-ca')).write({ 'ca.crt': await readFile(ca.caCert) })
      // trunk-client is not there yet: tls-out starts down.
      proc = startProcess(
        join(root, 'bin', 'kube-sbc'),
        [
          'signalling',
          '--config',
          join(dir, 'snapshot.json'),
          '--no-media',
          '--http-port',
          String(ports.http),
        ],
        { env: { ...process.env, KUBE_SBC_SECRETS_DIR: mount, POD_NAME: `pod-${ports.pbx}` } },
      )
      await proc.waitForOutput(/Started signalling/, 20_000)
      const first = await tlsSession(ports.tlsIn, ca)
      open.push(first.socket)
      assert.equal(first.serial, await serialOf(ca.server.cert))
      assert.match(await optionsOn(first.socket, 1), /^SIP\/2\.0 200 /)

      // cert-manager renews: the kubelet swaps ..data.
      await sbcTls.write({
        'tls.crt': await readFile(ca.renewedServer.cert),
        'tls.key': await readFile(ca.renewedServer.key),
      })
      const renewed = await serialOf(ca.renewedServer.cert)
      let latest = ''
      const seen = await until(async () => {
        const s = await tlsSession(ports.tlsIn, ca)
        open.push(s.socket)
        latest = s.serial
        if (s.serial !== renewed) s.socket.destroy()
        return s.serial === renewed
      })
      assert.ok(seen, `a new connection sees the renewed certificate (last serial ${latest})`)
      const second = open[open.length - 1] as TLSSocket
      assert.match(await optionsOn(second, 2), /^SIP\/2\.0 200 /, 'the new connection serves SIP')
      assert.match(
        await optionsOn(first.socket, 3),
        /^SIP\/2\.0 200 /,
        'the connection made before still serves',
      )
      let m = await scrape(ports.http)
      assert.equal(
        sample(m, 'sbc_sip_interface_tls_reloads_total{sip_interface="tls-side",result="applied"}'),
        1,
      )
      assert.equal(sample(m, 'sbc_sip_interface_up{sip_interface="tls-side",code=""}'), 1)

      // A bad renewal: a key that does not match its certificate. The renewed certificate stays.
      await sbcTls.write({
        'tls.crt': await readFile(ca.renewedServer.cert),
        'tls.key': await readFile(ca.server.key),
      })
      await proc.waitForOutput(/Refused new TLS material/, 20_000)
      assert.match(proc.output(), /SBC_ERR_SECRET_INVALID/)
      const third = await tlsSession(ports.tlsIn, ca)
      open.push(third.socket)
      assert.equal(third.serial, renewed, 'the interface keeps serving the certificate in force')
      assert.match(await optionsOn(third.socket, 4), /^SIP\/2\.0 200 /)
      m = await scrape(ports.http)
      assert.equal(
        sample(m, 'sbc_sip_interface_tls_reloads_total{sip_interface="tls-side",result="refused"}'),
        1,
      )
      assert.equal(
        sample(m, 'sbc_sip_interface_tls_stale{sip_interface="tls-side",code="SBC_ERR_SECRET_INVALID"}'),
        1,
      )
      assert.equal(sample(m, 'sbc_sip_interface_up{sip_interface="tls-side",code=""}'), 1)

      // The Secret of the interface that could not start appears: it opens without a new generation.
      await new KubeletSecretVolume(join(mount, 'trunk-client')).write({
        'tls.crt': await readFile(ca.client.cert),
        'tls.key': await readFile(ca.client.key),
      })
      const up = await until(
        async () =>
          sample(await scrape(ports.http), 'sbc_sip_interface_up{sip_interface="tls-out",code=""}') === 1,
      )
      assert.ok(up, 'tls-out came up once trunk-client was mounted')
      // It listens with the trunk-client certificate (a client certificate: only its names are checked here).
      const out = tlsConnect({ host: '127.0.0.1', port: ports.tlsOut, rejectUnauthorized: false })
      open.push(out)
      await once(out, 'secureConnect')
      assert.equal(out.getPeerCertificate().subject.CN, 'client.test')
    } finally {
      for (const s of open) s.destroy()
      await proc?.stop(3000)
      await rm(dir, { recursive: true, force: true })
      await ca.cleanup()
    }
  })
})

describe('Certificate renewal under kube-sbc run --watch: a changed v1/Secret in the input', function () {
  this.timeout(60_000)

  it('serves the new certificate to new connections; the connection made before keeps working', async () => {
    const ca = await createTestCa()
    const ports = await tlsPorts()
    const [uacPort, uasPort, calleePort] = [await freePort(), await freePort(), await freePort()]
    const yaml = async (server: TestCertificate) =>
      configYaml(ports, uacPort, uasPort, calleePort, await secretsYaml(ca, false, server))
    const sbc = await startSbc(ports, uacPort, uasPort, {
      extra: [...NO_MEDIA, '--watch'],
      yaml: await yaml(ca.server),
    })
    const open: TLSSocket[] = []
    try {
      const first = await tlsSession(ports.tlsIn, ca)
      open.push(first.socket)
      assert.equal(first.serial, await serialOf(ca.server.cert))
      await writeFile(join(sbc.dir, 'sbc.yaml'), await yaml(ca.renewedServer))
      const renewed = await serialOf(ca.renewedServer.cert)
      const seen = await until(async () => {
        const s = await tlsSession(ports.tlsIn, ca)
        s.socket.destroy()
        return s.serial === renewed
      })
      assert.ok(seen, 'a new connection sees the certificate of the changed Secret')
      assert.match(
        await optionsOn(first.socket, 1),
        /^SIP\/2\.0 200 /,
        'the connection made before still serves',
      )
      const m = await scrape(ports.http)
      assert.equal(
        sample(m, 'sbc_sip_interface_tls_reloads_total{sip_interface="tls-side",result="applied"}'),
        1,
      )
    } finally {
      for (const s of open) s.destroy()
      await sbc.close()
      await ca.cleanup()
    }
  })
})
