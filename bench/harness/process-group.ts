import { spawn } from 'node:child_process'

/** A server started as the leader of its own process group, so forked workers are counted and stopped too. */
export interface ProcessGroup {
  pgid: number
  /** The last 20 KB of its stdout and stderr, for error messages. */
  output(): string
  /** SIGTERM to the group, SIGKILL after `killAfterMs`; resolves when the leader has exited. */
  stop(): Promise<void>
}

export interface GroupOptions {
  /** Pin the group to these cores (`taskset -c`, e.g. `1` or `0,1`); unpinned when undefined. */
  cpus?: string
  cwd?: string
  env?: NodeJS.ProcessEnv
  /** Grace between SIGTERM and SIGKILL (a profiled Node process needs time to write its profile). */
  killAfterMs?: number
}

/** Starts `argv` as its own process group (pinned when `o.cpus` is set). */
export function startGroup(argv: string[], o: GroupOptions = {}): ProcessGroup {
  const [cmd, ...args] = o.cpus === undefined ? argv : ['taskset', '-c', o.cpus, ...argv]
  if (cmd === undefined) throw new Error('startGroup: empty command')
  const child = spawn(cmd, args, {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    cwd: o.cwd,
    ...(o.env ? { env: o.env } : {}),
  })
  let out = ''
  const keep = (d: Buffer) => {
    out = (out + d.toString()).slice(-20_000)
  }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  const pgid = child.pid
  if (pgid === undefined) throw new Error(`could not start ${argv[0]}`)
  const exited = new Promise<void>((r) => child.once('exit', () => r()))
  return {
    pgid,
    output: () => out,
    async stop() {
      try {
        process.kill(-pgid, 'SIGTERM')
      } catch {}
      const t = setTimeout(() => {
        try {
          process.kill(-pgid, 'SIGKILL')
        } catch {}
      }, o.killAfterMs ?? 5000)
      await exited
      clearTimeout(t)
    },
  }
}
