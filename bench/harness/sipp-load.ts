import { spawn } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface LoadResult {
  attempted: number
  successful: number
  failed: number
  /** Calls per second SIPp reached over the run. */
  achievedRate: number
  /** Response-time samples in ms per RTD number (1: INVITE→100, 2: INVITE→180). */
  rtd: Record<string, number[]>
  wallSeconds: number
  /** SIPp outlived its own `-timeout` and was killed; the counts are those of its last report. */
  killed: boolean
  /** SIPp's `-trace_err` log (unexpected messages, aborted calls), the first 4 KB, when any. */
  errors: string
}

export interface LoadOptions {
  scenario: string
  target: string // host:port
  localPort: number
  rate: number
  calls: number
  callDurationMs: number
  /** Pin SIPp to these cores (`taskset -c` list, e.g. 1 or "0,1"). */
  cpu?: number | string
  timeoutSeconds: number
}

/**
 * Runs one bounded SIPp UAC load (`-m calls`, `-timeout`) and returns its call counts and
 * per-call response times. Loopback only.
 */
export async function runSippLoad(o: LoadOptions): Promise<LoadResult> {
  const dir = mkdtempSync(join(tmpdir(), 'sbc-bench-sipp-'))
  const args = [
    '-sf',
    o.scenario,
    o.target,
    '-i',
    '127.0.0.1',
    '-p',
    String(o.localPort),
    '-r',
    String(o.rate),
    '-m',
    String(o.calls),
    '-d',
    String(o.callDurationMs),
    '-l',
    String(Math.max(100, o.rate * Math.ceil(o.callDurationMs / 1000 + 2))),
    '-trace_stat',
    '-fd',
    '1',
    '-trace_rtt',
    '-trace_err',
    '-rtt_freq',
    '1',
    '-timeout',
    `${o.timeoutSeconds}s`,
    '-nostdin',
    '-max_socket',
    '1000',
  ]
  const cmd = o.cpu === undefined ? 'sipp' : 'taskset'
  const full = o.cpu === undefined ? args : ['-c', String(o.cpu), 'sipp', ...args]
  const started = process.hrtime.bigint()
  let killed = false
  await new Promise<void>((resolve, reject) => {
    const child = spawn(cmd, full, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] })
    let err = ''
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString()
    })
    child.once('error', reject)
    // SIPp's own -timeout normally ends the run; this hard deadline keeps the load bounded in time
    // even when SIPp does not exit (seen with calls stuck in a scenario).
    // Its statistics file (written every second) still reports the calls up to then.
    const deadline = setTimeout(
      () => {
        killed = true
        child.kill('SIGKILL')
      },
      (o.timeoutSeconds + 30) * 1000,
    )
    // SIPp exits 0 when all calls succeeded, 1 when some failed; both are results, not errors.
    child.once('exit', (code, signal) => {
      clearTimeout(deadline)
      if (code === 0 || code === 1 || killed) resolve()
      else reject(new Error(`sipp exited ${code ?? signal}: ${err}`))
    })
  })
  const wallSeconds = Number(process.hrtime.bigint() - started) / 1e9
  const files = readdirSync(dir)
  const statFile = files.find((f) => f.endsWith('.csv') && !f.includes('_rtt'))
  const rttFile = files.find((f) => f.endsWith('_rtt.csv'))
  const errFile = files.find((f) => f.endsWith('_errors.log'))
  // "Dead call" entries are messages for calls SIPp has already finished (a late retransmission of
  // a response); they do not fail a call, and hundreds of them would hide the entries that did.
  const errors = errFile
    ? readFileSync(join(dir, errFile), 'utf8')
        // Entries run together (one ends with the quoted message, the next starts with its date).
        .split(/(?=\d{4}-\d\d-\d\d\t[\d:.]+\t[\d.]+: )/)
        .filter((entry) => !/^\d{4}-\d\d-\d\d\t[\d:.]+\t[\d.]+: Dead call /.test(entry))
        .join('')
        .slice(0, 4096)
    : ''
  if (!statFile) throw new Error(`sipp wrote no statistics in ${dir}`)
  const lines = readFileSync(join(dir, statFile), 'utf8').trim().split('\n')
  const header = (lines[0] ?? '').split(';')
  const last = (lines[lines.length - 1] ?? '').split(';')
  const col = (name: string) => Number(last[header.indexOf(name)])
  const rtd: Record<string, number[]> = {}
  if (rttFile) {
    for (const line of readFileSync(join(dir, rttFile), 'utf8').trim().split('\n').slice(1)) {
      const [, ms, rtdNo] = line.split(';')
      if (ms === undefined || rtdNo === undefined) continue
      const key = rtdNo.trim()
      let list = rtd[key]
      if (!list) {
        list = []
        rtd[key] = list
      }
      list.push(Number(ms))
    }
  }
  rmSync(dir, { recursive: true, force: true })
  const successful = col('SuccessfulCall(C)')
  const failed = col('FailedCall(C)')
  const attempted = col('TotalCallCreated')
  // The rate SIPp managed to create calls at: from its start to the first report that counts
  // every call created (the tail spent waiting for the last calls to end does not count).
  const epoch = (field: string | undefined) => Number((field ?? '').split('\t')[2])
  const createdAt = header.indexOf('TotalCallCreated')
  const allCreated =
    lines.slice(1).find((l) => Number(l.split(';')[createdAt]) >= attempted) ?? lines[lines.length - 1] ?? ''
  const fields = allCreated.split(';')
  const creationSeconds = Math.max(
    1e-3,
    epoch(fields[header.indexOf('CurrentTime')]) - epoch(fields[header.indexOf('StartTime')]),
  )
  return {
    attempted,
    successful,
    failed,
    achievedRate: attempted / creationSeconds,
    rtd,
    wallSeconds,
    errors,
    killed,
  }
}

export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN
  const sorted = [...samples].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number
}
