import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { configYaml } from '../../e2e/b2bua/harness.ts'
import { freePort } from '../../test/harness/free-port.ts'
import { type ProcessGroup, startGroup } from './process-group.ts'
import { udpPortBound, waitFor } from './wait-for.ts'

export interface KubeSbcBenchOptions {
  /** The checkout whose `bin/kube-sbc` runs (another `git worktree` for before/after runs). */
  root: string
  redisUrl: string
  /** Where the caller side (IP group `pbx`) listens. */
  pbxPort: number
  /** The SIPp UAS behind the SBC (IP group `carrier`). */
  uasPort: number
  /** `taskset -c` list; unpinned when undefined. */
  cpus?: string
  /** `--cpu-prof` into this folder (the process gets a minute to exit and write it). */
  profileDir?: string
  /** Node/V8 flags for the SBC process (NODE_OPTIONS, after bin/kube-sbc's defaults, so they win). */
  nodeOptions?: string
}

/**
 * One `kube-sbc run --redis --no-media` process for the signalling benchmarks, as its own process
 * group: the e2e config (`configYaml`) without the callee group's admission limit (the rate, not the
 * limit, is under test), log level warn, CDRs on stdout. Resolves once its caller-side UDP port is
 * bound; a process that does not come up in 30 s is stopped, not left behind.
 */
export async function startKubeSbc(o: KubeSbcBenchOptions): Promise<ProcessGroup> {
  const dir = mkdtempSync(join(tmpdir(), 'sbc-bench-kube-sbc-'))
  // The caller group's proxy port (5060) matches no SIPp UAC: callers are classified by address
  // (127.0.0.1 is a proxy of the only group on the caller-side interface), so any number of UACs
  // on any ports reach any process.
  const yaml = configYaml({ pbx: o.pbxPort, carrier: await freePort(), http: 0 }, 5060, o.uasPort, 'UDP')
    // No admission limit in the benchmark: the rate, not the limit, is under test.
    .replace('  maxConcurrentCalls: 20\n', '')
  writeFileSync(join(dir, 'sbc.yaml'), yaml)
  const bin = join(o.root, 'bin', 'kube-sbc')
  // Older trees have no --no-media (they did not anchor media at all).
  const hasNoMedia = readFileSync(join(o.root, 'cli', 'commands', 'run.ts'), 'utf8').includes("'no-media'")
  const run = startGroup(
    [
      bin,
      'run',
      '-f',
      dir,
      '--redis',
      o.redisUrl,
      '--http-port',
      '0',
      '--log-level',
      'warn',
      // Signalling only, like Kamailio in bench/signalling-calls.bench.ts: SDP passes through.
      ...(hasNoMedia ? ['--no-media'] : []),
    ],
    {
      ...(o.cpus === undefined ? {} : { cpus: o.cpus }),
      cwd: dir,
      ...(o.profileDir || o.nodeOptions
        ? {
            env: {
              ...process.env,
              NODE_OPTIONS: [
                o.profileDir ? `--cpu-prof --cpu-prof-dir=${o.profileDir}` : '',
                o.nodeOptions ?? '',
              ]
                .join(' ')
                .trim(),
            },
          }
        : {}),
      ...(o.profileDir ? { killAfterMs: 60_000 } : {}),
    },
  )
  const stop = async () => {
    await run.stop()
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    await waitFor(() => udpPortBound(o.pbxPort), `kube-sbc on ${o.pbxPort}`, 30_000, run.output)
  } catch (err) {
    await stop()
    throw err
  }
  return { pgid: run.pgid, output: run.output, stop }
}
