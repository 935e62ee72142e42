import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startProcess } from './child-process.ts'

/** How to run one SIPp instance. Every run is bounded by a call count and a timeout. */
export interface SippOptions {
  /** A built-in scenario (`-sn`) or the path of an XML scenario (`-sf`). */
  readonly scenario: { readonly builtin: 'uac' | 'uas' } | { readonly file: string }
  /** `host:port` of the peer (omit for a UAS). */
  readonly target?: string
  /** SIPp transport mode: `u1` (UDP, one socket), `t1` (TCP, one connection). */
  readonly transport: 'u1' | 't1'
  /** Local address and port SIPp binds. */
  readonly localAddress?: string
  readonly localPort: number
  /** Calls to place (UAC) or answer (UAS): `-m`. */
  readonly calls: number
  /** Calls per second: `-r`. Default 50. */
  readonly rate?: number
  /** Global timeout in seconds: `-timeout`, after which SIPp exits failing. */
  readonly timeoutSeconds: number
  /** Percentage of packets SIPp drops on purpose (UDP only): `-lost`. */
  readonly lostPercent?: number
  /** Extra arguments, e.g. `-d 10`. */
  readonly extra?: readonly string[]
}

/** What a SIPp run did, read from its exit code and final statistics. */
export interface SippResult {
  /** 0: every call succeeded; 1: at least one failed; 97/99/-1/-2: see sipp(1). */
  readonly exitCode: number | string | null
  readonly successfulCalls: number
  readonly failedCalls: number
  /** Messages SIPp retransmitted (its own timers). */
  readonly retransmissions: number
  /** Messages SIPp received that matched no call. */
  readonly outOfCallMessages: number
  /** SIPp's console output, for assertion messages. */
  readonly output: string
}

/** A SIPp UAS running in the background, to be awaited with {@link RunningSipp.result}. */
export interface RunningSipp {
  readonly pid: number
  /** Waits for SIPp to exit by itself (after `calls` or the timeout) and reads its statistics. */
  result(): Promise<SippResult>
  /** Stops SIPp early, by PID. */
  stop(): Promise<void>
}

function lastRow(csv: string): Record<string, string> {
  const lines = csv.trim().split('\n')
  const header = (lines[0] ?? '').split(';')
  const row = (lines.at(-1) ?? '').split(';')
  return Object.fromEntries(header.map((h, i) => [h, row[i] ?? '']))
}

/** Starts SIPp (the Debian sipp binary) with a temp dir for its statistics file. */
export async function startSipp(options: SippOptions): Promise<RunningSipp> {
  const dir = await mkdtemp(join(tmpdir(), 'kube-sbc-sipp-'))
  const statFile = join(dir, 'stat.csv')
  const args = [
    ...('builtin' in options.scenario ? ['-sn', options.scenario.builtin] : ['-sf', options.scenario.file]),
    ...(options.target ? [options.target] : []),
    '-t',
    options.transport,
    '-i',
    options.localAddress ?? '127.0.0.1',
    '-p',
    String(options.localPort),
    '-m',
    String(options.calls),
    '-r',
    String(options.rate ?? 50),
    '-timeout',
    `${options.timeoutSeconds}s`,
    '-timeout_error',
    '-trace_stat',
    '-stf',
    statFile,
    '-fd',
    '1',
    '-nostdin',
    ...(options.lostPercent ? ['-lost', String(options.lostPercent)] : []),
    ...(options.extra ?? []),
  ]
  const proc = startProcess('sipp', args, { cwd: dir })
  let cleaned = false
  const cleanup = async () => {
    if (cleaned) return
    cleaned = true
    await rm(dir, { recursive: true, force: true })
  }
  return {
    pid: proc.pid,
    async result() {
      const exitCode = await proc.exited
      let stats: Record<string, string> = {}
      try {
        stats = lastRow(await readFile(statFile, 'latin1'))
      } catch {
        // No statistics: SIPp failed before running; the exit code and output tell why.
      }
      await cleanup()
      const n = (k: string) => Number(stats[k] ?? 'NaN')
      return {
        exitCode,
        successfulCalls: n('SuccessfulCall(C)'),
        failedCalls: n('FailedCall(C)'),
        retransmissions: n('Retransmissions(C)'),
        outOfCallMessages: n('OutOfCallMsgs(C)'),
        output: proc.output(),
      }
    },
    async stop() {
      await proc.stop()
      await cleanup()
    },
  }
}

/** Runs SIPp to completion. */
export async function runSipp(options: SippOptions): Promise<SippResult> {
  return (await startSipp(options)).result()
}
