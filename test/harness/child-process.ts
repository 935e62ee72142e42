import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process'

/**
 * A process a test started, with its output kept for failure messages. Tests stop only the
 * processes they started, by PID (`stop()`), never by name.
 */
export interface StartedProcess {
  readonly child: ChildProcess
  readonly pid: number
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string
  /** Resolves when `pattern` appears in the output; rejects on exit or after `timeoutMs`. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<void>
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code or signal. */
  stop(graceMs?: number): Promise<number | string | null>
  /** Resolves when the process exits on its own. */
  exited: Promise<number | string | null>
}

export function startProcess(
  command: string,
  args: readonly string[],
  options: SpawnOptions = {},
): StartedProcess {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options })
  if (child.pid === undefined) throw new Error(`could not start ${command}`)
  let out = ''
  const listeners = new Set<() => void>()
  const onData = (chunk: Buffer) => {
    out += chunk.toString('utf8')
    if (out.length > 1_000_000) out = out.slice(-500_000)
    for (const l of listeners) l()
  }
  child.stdout?.on('data', onData)
  child.stderr?.on('data', onData)
  let exitValue: number | string | null | undefined
  const exited = new Promise<number | string | null>((resolve) => {
    child.once('exit', (code, signal) => {
      exitValue = code ?? signal
      for (const l of listeners) l()
      resolve(exitValue)
    })
  })
  const pid = child.pid
  return {
    child,
    pid,
    exited,
    output: () => out,
    waitForOutput(pattern, timeoutMs = 10_000) {
      return new Promise<void>((resolve, reject) => {
        const check = () => {
          if (pattern.test(out)) {
            done()
            resolve()
          } else if (exitValue !== undefined) {
            done()
            reject(
              new Error(`${command} exited (${exitValue}) before printing ${pattern}:\n${out.slice(-4000)}`),
            )
          }
        }
        const timer = setTimeout(() => {
          done()
          reject(
            new Error(`${command} did not print ${pattern} within ${timeoutMs} ms:\n${out.slice(-4000)}`),
          )
        }, timeoutMs)
        const done = () => {
          clearTimeout(timer)
          listeners.delete(check)
        }
        listeners.add(check)
        check()
      })
    },
    async stop(graceMs = 5_000) {
      if (exitValue !== undefined) return exitValue
      process.kill(pid, 'SIGTERM')
      const timer = setTimeout(() => {
        if (exitValue === undefined) process.kill(pid, 'SIGKILL')
      }, graceMs)
      const v = await exited
      clearTimeout(timer)
      return v
    },
  }
}
