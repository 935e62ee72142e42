import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type StartedProcess, startProcess } from './child-process.ts'
import { freePort } from './free-port.ts'

/** A `redis-server` a test started on loopback, without persistence, in its own temp dir. */
export interface TestRedis {
  readonly port: number
  readonly url: string
  /** PID of the current server process. */
  pid(): number
  /** Stops the server (by PID); the port stays reserved for `start()`. */
  stop(): Promise<void>
  /** Starts it again on the same port (after `stop()`), empty. */
  start(): Promise<void>
  /** Stops the server and removes its temp dir. */
  close(): Promise<void>
}

const REDIS = '/usr/bin/redis-server'

async function spawnRedis(args: string[]): Promise<StartedProcess> {
  const p = startProcess(REDIS, args)
  try {
    await p.waitForOutput(/Ready to accept connections|Sentinel ID is/, 10_000)
  } catch (err) {
    await p.stop(1000)
    throw err
  }
  return p
}

/** Starts `redis-server` on a free loopback port; with `password`, clients must AUTH (`requirepass`). */
export async function startRedis(options: { password?: string } = {}): Promise<TestRedis> {
  const port = await freePort()
  const dir = await mkdtemp(join(tmpdir(), 'sbc-redis-'))
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
    '--dir',
    dir,
  ]
  args.push('--protected-mode', 'no', '--loglevel', 'notice')
  if (options.password !== undefined) args.push('--requirepass', options.password)
  let proc: StartedProcess | undefined = await spawnRedis(args)
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    pid: () => proc?.pid ?? -1,
    async stop() {
      // SIGTERM (SIGKILL after 3 s): with persistence off redis exits at once, and restarts empty.
      await proc?.stop(3000)
      proc = undefined
    },
    async start() {
      if (!proc) proc = await spawnRedis(args)
    },
    async close() {
      await proc?.stop(3000)
      proc = undefined
      await rm(dir, { recursive: true, force: true })
    },
  }
}

/** A Redis Sentinel a test started, monitoring one master under `name`. */
export interface TestSentinel {
  readonly port: number
  readonly name: string
  close(): Promise<void>
}

/** Starts `redis-server --sentinel` on a free loopback port, monitoring `127.0.0.1:masterPort`. */
export async function startSentinel(
  masterPort: number,
  name = 'sbc',
  /** Clients of the sentinel must AUTH with it, and it AUTHs with the master (as Bitnami's chart does). */
  options: { password?: string } = {},
): Promise<TestSentinel> {
  const port = await freePort()
  const dir = await mkdtemp(join(tmpdir(), 'sbc-sentinel-'))
  const conf = join(dir, 'sentinel.conf')
  // Sentinel rewrites its config file, so it must live in a writable temp dir.
  await writeFile(
    conf,
    [
      `port ${port}`,
      'bind 127.0.0.1',
      `dir ${dir}`,
      `sentinel monitor ${name} 127.0.0.1 ${masterPort} 1`,
      `sentinel down-after-milliseconds ${name} 5000`,
      ...(options.password !== undefined
        ? [`requirepass ${options.password}`, `sentinel auth-pass ${name} ${options.password}`]
        : []),
      '',
    ].join('\n'),
  )
  const proc = await spawnRedis([conf, '--sentinel'])
  return {
    port,
    name,
    async close() {
      await proc.stop(3000)
      await rm(dir, { recursive: true, force: true })
    },
  }
}
