import { connect, type Socket } from 'node:net'

/**
 * A `MONITOR` connection to a test's redis-server, on a bare TCP socket.
 *
 * Why not ioredis' `monitor()`: it switches its connection to monitoring mode only when the
 * `+OK` to MONITOR has gone through a promise, so a monitor line that arrives in the same TCP read
 * as that `+OK` (any client's command right after, e.g. the SBC's own `INFO`) meets an empty command
 * queue and ioredis throws "Command queue state error". Here every line after `+OK` is a command.
 */
export interface RedisMonitor {
  /** Stops monitoring (closes the connection). */
  close(): void
}

/** One command Redis ran: its arguments and where from (`127.0.0.1:port`, or `lua` inside a script). */
export type MonitorListener = (args: string[], source: string) => void

/** Connects to `url` (redis://host:port), sends MONITOR and resolves once Redis answered `+OK`. */
export function monitorRedis(url: string, listener: MonitorListener): Promise<RedisMonitor> {
  const { hostname, port } = new URL(url)
  return new Promise((resolve, reject) => {
    const socket: Socket = connect(Number(port), hostname)
    let buffered = ''
    let monitoring = false
    socket.setEncoding('utf8')
    socket.once('error', reject)
    socket.on('connect', () => socket.write('MONITOR\r\n'))
    socket.on('data', (chunk: string) => {
      buffered += chunk
      let end = buffered.indexOf('\r\n')
      while (end >= 0) {
        const line = buffered.slice(0, end)
        buffered = buffered.slice(end + 2)
        if (!monitoring) {
          if (line !== '+OK') {
            socket.destroy()
            reject(new Error(`MONITOR refused: ${line}`))
            return
          }
          monitoring = true
          socket.removeListener('error', reject)
          socket.on('error', () => {})
          resolve({ close: () => socket.destroy() })
        } else {
          const parsed = parseMonitorLine(line)
          if (parsed) listener(parsed.args, parsed.source)
        }
        end = buffered.indexOf('\r\n')
      }
    })
  })
}

/**
 * `+1795807718.010329 [0 127.0.0.1:39086] "set" "k" "a \"b\""`: the arguments are quoted with
 * Redis' escapes (sdscatrepr: \" \\ \n \r \t \a \b and \xHH).
 */
export function parseMonitorLine(line: string): { args: string[]; source: string } | undefined {
  const m = /^\+\d+\.\d+ \[\d+ ([^\]]+)\] (.*)$/.exec(line)
  if (!m) return undefined
  const args: string[] = []
  const text = m[2]!
  let i = 0
  while (i < text.length) {
    if (text[i] !== '"') {
      i++
      continue
    }
    let arg = ''
    i++
    while (i < text.length && text[i] !== '"') {
      if (text[i] === '\\' && i + 1 < text.length) {
        const c = text[i + 1]!
        if (c === 'x') {
          arg += String.fromCharCode(Number.parseInt(text.slice(i + 2, i + 4), 16))
          i += 4
          continue
        }
        arg += ESCAPES[c] ?? c
        i += 2
        continue
      }
      arg += text[i]
      i++
    }
    args.push(arg)
    i++
  }
  return { args, source: m[1]! }
}

const ESCAPES: Record<string, string> = { n: '\n', r: '\r', t: '\t', a: '\x07', b: '\b' }
