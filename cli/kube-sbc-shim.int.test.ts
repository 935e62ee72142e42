import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const root = join(import.meta.dirname, '..')
const shim = join(root, 'bin/kube-sbc')

/**
 * `bin/kube-sbc` is the one place the V8 flags of every kube-sbc process are set (the image's
 * ENTRYPOINT is the shim). What is checked is the flag's effect inside the started process, not the
 * shim's text: a module preloaded into `kube-sbc --help` fills the young generation with short-lived
 * objects and writes down how large V8 let its new space grow.
 */
describe('bin/kube-sbc (the shim) sets the V8 flags', function () {
  this.timeout(30_000)
  let dir = ''
  let probe = ''
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'kube-sbc-shim-'))
    probe = join(dir, 'probe.mjs')
    writeFileSync(
      probe,
      `import { getHeapSpaceStatistics } from 'node:v8'
import { writeFileSync } from 'node:fs'
let keep = [], max = 0
for (let i = 0; i < 3e6; i++) {
  keep.push({ i, s: 'x' + i })
  if (keep.length > 2e5) keep = []
  if (i % 1e5 === 0) max = Math.max(max, getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size)
}
writeFileSync(${JSON.stringify(join(dir, 'out.json'))}, JSON.stringify({ newSpaceMiB: max / 1048576, nodeOptions: process.env.NODE_OPTIONS }))
`,
    )
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  function run(nodeOptions: string): { newSpaceMiB: number; nodeOptions: string } {
    const r = spawnSync(shim, ['--help'], {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, NODE_OPTIONS: nodeOptions },
    })
    assert.equal(r.status, 0, r.stderr)
    return JSON.parse(readFileSync(join(dir, 'out.json'), 'utf8'))
  }

  it('caps the young generation at 4 MiB semi-spaces', () => {
    const r = run(`--import=${probe}`)
    // 2 × 4 MiB, reported as 8–9 MiB (V8 counts a page more on some runs); without the flag Node 24
    // lets it grow to 128 MiB under this load, and with a caller's 16 MiB to 32.
    assert.ok(r.newSpaceMiB > 0 && r.newSpaceMiB < 16, `new space grew to ${r.newSpaceMiB} MiB`)
    assert.match(r.nodeOptions, /^--max-semi-space-size=4 --import=/)
  })

  it("keeps the caller's own NODE_OPTIONS after its defaults, so the caller's value wins", () => {
    const r = run(`--max-semi-space-size=16 --import=${probe}`)
    assert.ok(r.newSpaceMiB >= 16, `new space stayed at ${r.newSpaceMiB} MiB`)
  })
})
