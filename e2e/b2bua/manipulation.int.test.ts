import assert from 'node:assert/strict'
import { readFile, writeFile } from 'node:fs/promises'
import { freePort } from '../../test/harness/free-port.ts'
import { startSipp } from '../../test/harness/sipp.ts'
import { both, call, configYaml, ok, type Sbc, sbcPorts, scenario, startSbc } from './harness.ts'

/** Signalling only: SDP passes through (media anchoring has its own tests). */
const NO_MEDIA = ['--no-media']

/**
 * Header manipulation and identity on the wire (docs/pipeline.md §5 and "Identity and NAT"): the
 * caller's group `pbx` has Inbound rules (what it sends is reshaped before it is carried on) and an
 * Outbound one, the callee's group `carrier` has Outbound rules (one for BYE only), Inbound rules and
 * a profile asserting the caller's identity (RFC 3325 §9.1, the uclab Webex profile's
 * SBCAssertIdentity = 1) with privacy Restrict (RFC 3325 §9.3). The SIPp UAS checks each header of
 * the INVITE it gets; a second call checks every message of a call both ways (docs/b2bua.md,
 * "Manipulation and identity").
 */

const profile = `---
apiVersion: sbc.kubesbc.io/v1alpha1
kind: IPProfile
metadata: { name: trunk, namespace: default }
spec:
  media: { srtp: { mode: Optional }, codecs: [{ name: PCMU }] }
  identity: { assertedIdentity: Add, privacy: Restrict }
`

function yaml(ports: Awaited<ReturnType<typeof sbcPorts>>, uacPort: number, uasPort: number): string {
  const base = configYaml(ports, uacPort, uasPort, 'UDP', { append: profile })
  const pbx = `  proxySet: { proxies: [{ address: 127.0.0.1, port: ${uacPort}, transport: UDP }] }\n`
  const carrier = `  proxySet: { proxies: [{ address: 127.0.0.1, port: ${uasPort}, transport: UDP }] }\n`
  const out = base
    .replace(
      pbx,
      `${pbx}  manipulations:
    - { name: subject, direction: Inbound, header: Subject, action: Set, value: "from the pbx" }
    - { name: no-agent, direction: Inbound, header: User-Agent, action: Remove }
    - { name: pbx-tag, header: X-Pbx, action: Add, value: to-pbx }
    - { name: pai-host, direction: Inbound, header: P-Asserted-Identity, action: ReplaceHost, value: pbx.example.test }
`,
    )
    .replace(
      `  sipInterfaceRef: { name: carrier-side }\n  ipProfileRef: { name: default }\n`,
      '  sipInterfaceRef: { name: carrier-side }\n  ipProfileRef: { name: trunk }\n',
    )
    .replace(
      carrier,
      `${carrier}  manipulations:
    - { name: trunk-id, header: X-Trunk, action: Add, value: carrier-1 }
    - { name: contact-host, header: Contact, action: ReplaceHost, value: sbc.example.test }
    - { name: bye-only, methods: [BYE], header: X-Bye, action: Add, value: "1" }
    - { name: carrier-subject, direction: Inbound, header: Subject, action: Set, value: "from the carrier" }
    - { name: no-server, direction: Inbound, header: Server, action: Remove }
`,
    )
  assert.match(out, /name: subject/)
  assert.match(out, /ipProfileRef: \{ name: trunk \}/)
  assert.match(out, /name: trunk-id/)
  return out
}

/** The caller's INVITE also carries a User-Agent and a Subject the Inbound rules replace. */
async function withCallerHeaders(file: string): Promise<string> {
  const text = await readFile(file, 'latin1')
  const i = text.indexOf('      Max-Forwards: 70\n')
  assert.ok(i > 0)
  await writeFile(
    file,
    `${text.slice(0, i)}      User-Agent: pbx-9000\n      Subject: original\n${text.slice(i)}`,
    'latin1',
  )
  return file
}

/**
 * `<ereg check_it>` on one header of the INVITE (SIPp hands the value with its leading space); the
 * variable is logged so SIPp sees it used.
 */
const check = (header: string, regexp: string, name: string) =>
  `<ereg regexp="${regexp}" search_in="hdr" header="${header}:" check_it="true" assign_to="${name}" /><log message="${name} [$${name}]" />`
const absent = (header: string, name: string) =>
  `<ereg regexp="." search_in="hdr" header="${header}:" check_it_inverse="true" assign_to="${name}" /><log message="${name} [$${name}]" />`

describe('Manipulation and identity through kube-sbc run', function () {
  this.timeout(40_000)
  let sbc: Sbc
  let uacPort: number
  let uasPort: number

  before(async () => {
    uacPort = await freePort()
    uasPort = await freePort()
    const ports = await sbcPorts()
    sbc = await startSbc(ports, uacPort, uasPort, { extra: NO_MEDIA, yaml: yaml(ports, uacPort, uasPort) })
  })
  after(async () => sbc?.close())

  it('applies the caller group Inbound rules, the callee profile identity and Outbound rules', async () => {
    const uas = await startSipp({
      scenario: {
        file: await scenario('uas-check.xml', {
          CHECK: [
            // applyIdentity: the From user at the advertised host of the callee's interface.
            check('P-Asserted-Identity', '^ *&lt;sip:sipp@127\\.0\\.0\\.1&gt;$', 'pai'),
            check('Privacy', '^ *id$', 'privacy'),
            // Inbound rules of pbx.
            check('Subject', '^ *from the pbx$', 'subject'),
            absent('User-Agent', 'agent'),
            // Outbound rules of carrier.
            check('X-Trunk', '^ *carrier-1$', 'trunk'),
            check('Contact', '@sbc\\.example\\.test:', 'contacthost'),
          ].join(''),
        }),
      },
      transport: 'u1',
      localPort: uasPort,
      calls: 1,
      timeoutSeconds: 15,
    })
    await new Promise((r) => setTimeout(r, 200))
    const uac = await startSipp({
      scenario: { file: await withCallerHeaders(await scenario('uac-call.xml')) },
      target: `127.0.0.1:${sbc.ports.pbx}`,
      transport: 'u1',
      localPort: uacPort,
      calls: 1,
      timeoutSeconds: 15,
    })
    const [a, b] = await Promise.all([uac.result(), uas.result()])
    ok(b, 1, 'UAS checking the headers')
    ok(a, 1, 'UAC')
  })

  it('applies Inbound and Outbound rules to 180, 200, a re-INVITE from the callee and its 200, the BYE and its 200', async () => {
    // What the caller receives: carrier's Inbound rules (Subject set, Server removed) on what the
    // callee sent, then pbx's Outbound rule (X-Pbx added).
    const fromCallee = (tag: string) =>
      [
        check('Subject', '^ *from the carrier$', `${tag}subject`),
        absent('Server', `${tag}server`),
        check('X-Pbx', '^ *to-pbx$', `${tag}pbx`),
      ].join('')
    // What the callee receives: pbx's Inbound rules (Subject set, User-Agent removed), then carrier's
    // Outbound rules (X-Trunk on everything, X-Bye on BYE only).
    const fromCaller = (tag: string, bye: boolean) =>
      [
        check('Subject', '^ *from the pbx$', `${tag}subject`),
        absent('User-Agent', `${tag}agent`),
        check('X-Trunk', '^ *carrier-1$', `${tag}trunk`),
        bye ? check('X-Bye', '^ *1$', `${tag}bye`) : absent('X-Bye', `${tag}bye`),
      ].join('')
    const uas = await startSipp({
      scenario: {
        file: await scenario('uas-manipulated.xml', {
          CHECK_INVITE: fromCaller('i', false),
          CHECK_REINVITE_200: fromCaller('r', false),
          CHECK_BYE: fromCaller('b', true),
        }),
      },
      transport: 'u1',
      localPort: uasPort,
      calls: 1,
      timeoutSeconds: 15,
    })
    await new Promise((r) => setTimeout(r, 200))
    const uac = await startSipp({
      scenario: {
        file: await scenario('uac-manipulated.xml', {
          CHECK_180: fromCallee('p'),
          CHECK_200: fromCallee('a'),
          CHECK_REINVITE: fromCallee('r'),
          CHECK_BYE_200: fromCallee('b'),
        }),
      },
      target: `127.0.0.1:${sbc.ports.pbx}`,
      transport: 'u1',
      localPort: uacPort,
      calls: 1,
      timeoutSeconds: 15,
    })
    const [a, b] = await Promise.all([uac.result(), uas.result()])
    ok(b, 1, 'UAS checking INVITE, the 200 of its re-INVITE and the BYE')
    ok(a, 1, 'UAC checking 180, 200, the re-INVITE and the 200 of its BYE')
  })

  it('applies Inbound and Outbound rules to a relayed out-of-dialog OPTIONS and its 200', async () => {
    const uas = await startSipp({
      scenario: {
        file: await scenario('uas-options-checked.xml', {
          CHECK: [
            check('Subject', '^ *from the pbx$', 'subject'),
            absent('User-Agent', 'agent'),
            check('X-Trunk', '^ *carrier-1$', 'trunk'),
          ].join(''),
        }),
      },
      transport: 'u1',
      localPort: uasPort,
      calls: 1,
      timeoutSeconds: 15,
    })
    await new Promise((r) => setTimeout(r, 200))
    const uac = await startSipp({
      scenario: {
        file: await scenario('uac-options-checked.xml', {
          CHECK: [
            check('Subject', '^ *from the carrier$', 'subject'),
            absent('Server', 'server'),
            check('X-Pbx', '^ *to-pbx$', 'pbx'),
          ].join(''),
        }),
      },
      target: `127.0.0.1:${sbc.ports.pbx}`,
      transport: 'u1',
      localPort: uacPort,
      calls: 1,
      timeoutSeconds: 15,
    })
    const [a, b] = await Promise.all([uac.result(), uas.result()])
    ok(b, 1, 'UAS checking the OPTIONS')
    ok(a, 1, 'UAC checking its 200')
  })

  it('answers an in-dialog request whose header the rules cannot rewrite 400, and still relays such a BYE', async () => {
    const c = await call(sbc.ports.pbx, uacPort, uasPort, {
      uac: await scenario('uac-not-manipulable.xml'),
      // Answers, then serves the BYE: the INFO never reaches it (SIPp would fail on an unexpected one).
      uas: await scenario('uas-check.xml'),
    })
    await both(c, 1)
    await sbc.proc.waitForOutput(
      /"code":"SBC_ERR_MANIPULATION".*Refused request: header not manipulable/,
      10_000,
    )
    await sbc.proc.waitForOutput(
      /"code":"SBC_ERR_MANIPULATION".*Relayed without a failed manipulation/,
      10_000,
    )
  })
})
