import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseAllDocuments, stringify } from 'yaml'

const root = join(import.meta.dirname, '../..')
const shim = join(root, 'bin/kube-sbc')
const uclab = join(root, 'examples/uclab')

function run(...args: string[]) {
  const r = spawnSync(shim, args, { cwd: root, encoding: 'utf8' })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

/** Every object of the uclab example that another object refers to, with the file it lives in. */
const referenced: { kind: string; name: string; expect: RegExp }[] = [
  { kind: 'MediaRealm', name: 'mr-webex', expect: /MediaRealm "mr-webex" not found/ },
  { kind: 'MediaRealm', name: 'mr-siptrunk', expect: /MediaRealm "mr-siptrunk" not found/ },
  { kind: 'MediaRealm', name: 'mr-twilio', expect: /MediaRealm "mr-twilio" not found/ },
  { kind: 'SipInterface', name: 'si-webex', expect: /SipInterface "si-webex" not found/ },
  { kind: 'SipInterface', name: 'si-trunk', expect: /SipInterface "si-trunk" not found/ },
  { kind: 'SipInterface', name: 'si-twilio', expect: /SipInterface "si-twilio" not found/ },
  { kind: 'IPProfile', name: 'webex', expect: /IPProfile "webex" not found/ },
  { kind: 'IPProfile', name: 'siptrunk', expect: /IPProfile "siptrunk" not found/ },
  { kind: 'IPProfile', name: 'twilio', expect: /IPProfile "twilio" not found/ },
  { kind: 'IPGroup', name: 'webex', expect: /IPGroup "webex" not found/ },
  { kind: 'IPGroup', name: 'twilio', expect: /IPGroup "twilio" not found/ },
  { kind: 'Secret', name: 'sbc1-tls', expect: /Secret "sbc1-tls" not found/ },
  { kind: 'Secret', name: 'webex-client-ca', expect: /Secret "webex-client-ca" not found/ },
]

describe('kube-sbc validate (the real shim)', () => {
  let tmp = ''
  beforeEach(() => {
    tmp = mkdtempSync(join(tmpdir(), 'kube-sbc-validate-'))
  })
  afterEach(() => rmSync(tmp, { recursive: true, force: true }))

  it('exits 0 on examples/uclab', () => {
    const r = run('validate', '-f', 'examples/uclab')
    assert.equal(r.code, 0, r.stdout + r.stderr)
    assert.match(r.stdout, /0 errors, 0 warnings: valid/)
  })

  it('exits 0 on examples/local', () => {
    assert.equal(run('validate', '-f', 'examples/local').code, 0)
  })

  it('exits 1 naming the dangling reference when any one referenced object is deleted', () => {
    // One copy per deletion would spawn a process each; instead delete each object in its own
    // folder and validate all folders at once — namespaces keep the copies apart.
    const paths: string[] = []
    for (const [i, ref] of referenced.entries()) {
      const dir = join(tmp, `case-${i}`)
      cpSync(uclab, dir, { recursive: true })
      for (const f of readdirSync(dir)) {
        const docs = parseAllDocuments(readFileSync(join(dir, f), 'utf8')).map((d) => d.toJS())
        const kept = docs
          .filter((o) => !(o.kind === ref.kind && o.metadata.name === ref.name))
          .map((o) => ({ ...o, metadata: { ...o.metadata, namespace: `case-${i}` } }))
        writeFileSync(join(dir, f), kept.map((o) => stringify(o)).join('---\n'))
      }
      paths.push('-f', dir)
    }
    const r = run('validate', ...paths)
    assert.equal(r.code, 1, r.stdout + r.stderr)
    for (const [i, ref] of referenced.entries()) {
      const block = r.stdout.split('\n').filter((l) => l.includes(`case-${i}`) || l.startsWith('  '))
      assert.ok(
        r.stdout.split(/\n(?=\S)/).some((b) => b.includes(`case-${i}/`) && ref.expect.test(b)),
        `deleting ${ref.kind} ${ref.name} was not reported:\n${block.join('\n')}`,
      )
    }
  })

  it('names file and line of malformed YAML and exits 1', () => {
    const f = join(tmp, 'bad.yaml')
    writeFileSync(f, 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: a\n    oops: b\ntype: Opaque\n')
    const r = run('validate', '-f', f)
    assert.equal(r.code, 1)
    assert.match(
      r.stdout,
      new RegExp(`^${f.replaceAll('/', '\\/')}:4:9 YAML syntax error\n  error   YAMLSyntax: `),
    )
  })

  it('reports unknown kinds, unknown versions and duplicates', () => {
    const f = join(tmp, 'x.yaml')
    writeFileSync(
      f,
      [
        'apiVersion: sbc.kubesbc.io/v1alpha1\nkind: Trunk\nmetadata: { name: a }\nspec: {}',
        'apiVersion: sbc.kubesbc.io/v2\nkind: IPProfile\nmetadata: { name: b }\nspec: {}',
        'apiVersion: sbc.kubesbc.io/v1alpha1\nkind: IPProfile\nmetadata: { name: c }\nspec: {}',
        'apiVersion: sbc.kubesbc.io/v1alpha1\nkind: IPProfile\nmetadata: { name: c }\nspec: {}',
      ].join('\n---\n'),
    )
    const r = run('validate', '-f', f, '--output', 'json')
    assert.equal(r.code, 1)
    const report = JSON.parse(r.stdout) as { groups: { subject: string; problems: { reason: string }[] }[] }
    const reasons = Object.fromEntries(report.groups.map((g) => [g.subject, g.problems.map((p) => p.reason)]))
    assert.deepEqual(reasons['Trunk default/a'], ['UnknownKind'])
    assert.deepEqual(reasons['IPProfile default/b'], ['UnknownVersion'])
    assert.deepEqual(reasons['IPProfile default/c'], ['Duplicate'])
  })

  it('answers a bad flag with one line and the usage on stderr, exit 2, no stack trace', () => {
    const r = run('validate', '--nope')
    assert.equal(r.code, 2)
    assert.match(r.stderr.split('\n')[0]!, /^kube-sbc: Unknown option '--nope'$/)
    assert.match(r.stderr, /usage: kube-sbc validate/)
    assert.doesNotMatch(r.stderr, /\n\s+at /)
  })

  it('answers an unknown command with exit 2 and a missing path with exit 1, one line each', () => {
    const unknown = run('frobnicate')
    assert.equal(unknown.code, 2)
    assert.match(unknown.stderr, /^kube-sbc: unknown command "frobnicate"\n/)
    const missing = run('validate', '-f', join(tmp, 'absent'))
    assert.equal(missing.code, 1)
    assert.equal(missing.stderr.trim().split('\n').length, 1)
    assert.match(missing.stderr, /no such file or directory/)
  })

  it('prints help and version', () => {
    const help = run('--help')
    assert.equal(help.code, 0)
    assert.match(help.stdout, /validate\s+compile CRs/)
    assert.match(run('version').stdout, /^kube-sbc \d+\.\d+\.\d+/)
  })
})
