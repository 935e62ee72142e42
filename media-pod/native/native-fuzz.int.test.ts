import assert from 'node:assert/strict'
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { corpusFile, FUZZ_ICE, fuzzSeeds } from './fuzz/corpus.ts'

/* The media packet path's parsers under AddressSanitizer and UndefinedBehaviorSanitizer: the fuzz
 * harness fuzz/packet-fuzz.c compiled with the product's stun.c, ossl-srtp.c and rtp-stats.h (and
 * libsrtp), run on a seed corpus of valid packets and a bounded number of deterministic mutations;
 * then the real relay (an ASan build of the whole addon, its worker threads) fed a burst of those
 * mutations over loopback. A sanitizer report, a failed verdict check or a counter that does not add
 * up fails the test with the command that reproduces it. KSBC_FUZZ_SEED and KSBC_FUZZ_EXECS override
 * the seed and the number of random mutations (more for a longer local run). Loopback only. */

const HERE = dirname(fileURLToPath(import.meta.url))
const SRC = join(HERE, 'src')
const SANITIZE = ['-fsanitize=address,undefined', '-fno-sanitize-recover=all', '-g', '-O1', '-std=gnu11']
const SEED = process.env.KSBC_FUZZ_SEED ?? '20261128'
const EXECS = process.env.KSBC_FUZZ_EXECS ?? '1000000'
const BURST = '20000'
/** What a sanitizer or the harness writes when something is wrong. */
const REPORT = /ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|packet-fuzz: FAIL/
const REGRESSIONS = join(HERE, 'fuzz', 'regressions.txt')
/** The sanitizer runtimes: a Node that is not built with ASan must load it first to load an ASan addon. */
const ENV = { ...process.env, ASAN_OPTIONS: 'detect_leaks=1', UBSAN_OPTIONS: 'print_stacktrace=1' }

describe('native packet path under ASan/UBSan (fuzz/packet-fuzz.c)', function () {
  this.timeout(300_000)
  let dir: string
  let harness: string
  let corpus: string
  const seeds = fuzzSeeds()

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'ksbc-fuzz-'))
    corpus = join(dir, 'corpus.bin')
    writeFileSync(corpus, corpusFile(seeds))
    harness = join(dir, 'packet-fuzz')
    execFileSync(
      'gcc',
      [
        ...SANITIZE,
        '-Wall',
        '-Wextra',
        '-Wno-unused-parameter',
        join(HERE, 'fuzz', 'packet-fuzz.c'),
        join(SRC, 'stun.c'),
        join(SRC, 'ossl-srtp.c'),
        '-lsrtp2',
        '-lcrypto',
        '-o',
        harness,
      ],
      { stdio: ['ignore', 'inherit', 'inherit'] },
    )
  })
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  /** Runs the harness; fails with its report and the command line that reproduces it. */
  const run = (args: string[]) => {
    const r = spawnSync(harness, args, { env: ENV, encoding: 'utf8', maxBuffer: 64 << 20 })
    const again = `reproduce: ${[harness, ...args].join(' ')}`
    assert.equal(
      r.status,
      0,
      `packet-fuzz exited ${r.status} (${r.signal ?? ''}):\n${r.stderr.slice(-6000)}\n${again}`,
    )
    assert.doesNotMatch(r.stderr, REPORT, `${r.stderr.slice(-6000)}\n${again}`)
    return JSON.parse(r.stdout.trim().split('\n').at(-1) as string)
  }

  it('reports a read one octet past a packet (what the checks below look for reaches stderr)', () => {
    const r = spawnSync(harness, ['--self-check'], { env: ENV, encoding: 'utf8' })
    assert.notEqual(r.status, 0)
    assert.match(r.stderr, /ERROR: AddressSanitizer: (heap-buffer-overflow|SEGV)/)
    assert.match(r.stderr, /packet-fuzz: seed \d+, execution 1, target self-check/)
  })

  it('takes every seed, the regression cases and every mutation without a sanitizer report, with verdicts that make sense', () => {
    const s = run([corpus, SEED, EXECS, FUZZ_ICE.ufrag, FUZZ_ICE.pwd, REGRESSIONS])
    const ops = readFileSync(REGRESSIONS, 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '' && !l.startsWith('#') && l.trim() !== 'fresh')
    assert.ok(ops.length > 0)
    assert.equal(s.regressions, ops.length, 'every regression case ran')
    assert.ok(s.execs >= Number(EXECS) + s.systematic, `${s.execs} executions`)
    // Every SRTP/SRTCP seed (each RTP/RTCP seed protected with every profile) authenticated with both
    // engines exactly twice (as it is, and once more after the regression cases' fresh sessions), and
    // no mutation ever did: the harness checks that each success is a seed's octets, this that the
    // seeds were there to succeed.
    const srtpSeeds = s.seeds - seeds.length
    assert.ok(srtpSeeds >= 4 * seeds.filter((x) => x.kind === 'rtp').length, `${srtpSeeds} SRTP seeds`)
    assert.deepEqual(s.srtpOk, [2 * srtpSeeds, 2 * srtpSeeds])
    // Every verdict of the responder was reached, nominations too; the plain path ran statistics and
    // protected with both engines.
    for (const [i, n] of (s.stun as number[]).entries()) assert.ok(n > 0, `STUN verdict ${i} never given`)
    assert.ok(s.nominated > 0 && s.rtpStats > 0 && s.dropped > 0)
    assert.ok(s.protectOk[0] > 0 && s.protectOk[1] > 0, JSON.stringify(s))
  })

  it('relays a burst of mutated datagrams on an ASan build of the addon (two workers, SRTP both engines, ICE) over loopback', () => {
    // The whole addon with the sanitizers, loaded into a Node child that preloads the ASan runtime
    // (Node itself is not instrumented; leaks are not checked there: Node's own are reported at exit).
    const addon = join(dir, 'kube_sbc_media_asan.node')
    const nodeInclude = join(dirname(dirname(process.execPath)), 'include', 'node')
    // The addon's own sources, defines and libraries, from binding.gyp (JSON once its # comments go).
    const gyp = JSON.parse(readFileSync(join(HERE, 'binding.gyp'), 'utf8').replace(/^\s*#.*$/gm, ''))
    const target = gyp.targets[0] as {
      target_name: string
      sources: string[]
      defines: string[]
      libraries: string[]
    }
    execFileSync(
      'gcc',
      [
        ...SANITIZE,
        '-shared',
        '-fPIC',
        ...target.defines.map((d) => `-D${d}`),
        `-DNODE_GYP_MODULE_NAME=${target.target_name}`,
        `-I${nodeInclude}`,
        ...target.sources.map((f) => join(HERE, f)),
        ...target.libraries,
        '-o',
        addon,
      ],
      { stdio: ['ignore', 'inherit', 'inherit'] },
    )
    const dump = join(dir, 'burst.bin')
    const d = run([corpus, SEED, '0', FUZZ_ICE.ufrag, FUZZ_ICE.pwd, REGRESSIONS, '--dump', dump, BURST])
    const asan = execFileSync('gcc', ['-print-file-name=libasan.so'], { encoding: 'utf8' }).trim()
    const args = [join(HERE, 'fuzz', 'relay-burst.ts'), addon, dump, String(d.seeds)]
    const r = spawnSync(process.execPath, args, {
      env: { ...ENV, LD_PRELOAD: asan, ASAN_OPTIONS: 'detect_leaks=0' },
      encoding: 'utf8',
      maxBuffer: 64 << 20,
    })
    const again = `reproduce: LD_PRELOAD=${asan} ASAN_OPTIONS=detect_leaks=0 ${process.execPath} ${args.join(' ')}`
    assert.equal(
      r.status,
      0,
      `relay-burst exited ${r.status} (${r.signal ?? ''}):\n${r.stderr.slice(-6000)}\n${again}`,
    )
    assert.doesNotMatch(r.stderr, REPORT, `${r.stderr.slice(-6000)}\n${again}`)
    const out = JSON.parse(r.stdout.trim())
    assert.ok(out.datagrams > 2 * Number(BURST), JSON.stringify(out))
  })
})
