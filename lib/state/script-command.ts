import { Command } from 'ioredis'

/** Replies as strings, as ioredis's named commands return them. */
const UTF8 = { replyEncoding: 'utf8' } as const

/**
 * `EVALSHA sha numberOfKeys ...args` as the RESP frame Redis reads (an array of bulk strings),
 * written straight into one Buffer. ioredis's `Command#toWritable` builds the same frame as a string
 * of ~5 concatenations per argument, which the socket write then flattens and encodes: ~1.5 kB of
 * short-lived heap per script call carrying a call's state, a large share of the young-generation
 * garbage of a call (docs/benchmarks/signalling.md, "Session 5: allocation"). Here the heap objects
 * are the Buffer's view and two small arrays; the bytes come from Node's buffer pool, off the heap.
 *
 * Strings go in with one `Buffer#write` each (UTF-8): a JavaScript `charCodeAt` loop costs tens of
 * instructions per character in V8 13 (see `octets` in lib/sip/message/scan.ts) and made a frame
 * 5× the instructions of ioredis's. The part that is the same for every call of a script
 * (`evalsha`, its SHA1, the key count) is copied from a Buffer made once. Numbers are written as
 * `String(n)` writes them, as ioredis does.
 */
export function evalshaFrame(
  sha: string,
  numberOfKeys: number,
  args: ReadonlyArray<string | number>,
): Buffer {
  const prefix = scriptPrefix(sha, numberOfKeys)
  const count = args.length
  const texts: string[] = new Array(count)
  const lengths: number[] = new Array(count)
  let total = 3 + digits(count + 3) + prefix.length
  for (let i = 0; i < count; i++) {
    const a = args[i]!
    const s = typeof a === 'string' ? a : String(a)
    const n = Buffer.byteLength(s, 'utf8')
    texts[i] = s
    lengths[i] = n
    total += 5 + digits(n) + n
  }
  const out = Buffer.allocUnsafe(total)
  let o = writeHead(out, 0, 42 /* * */, count + 3)
  o += prefix.copy(out, o)
  for (let i = 0; i < count; i++) {
    const n = lengths[i]!
    o = writeHead(out, o, 36 /* $ */, n)
    o += out.write(texts[i]!, o, n, 'utf8')
    out[o++] = 13
    out[o++] = 10
  }
  if (o !== total) throw new Error(`RESP frame length ${o} != ${total}`)
  return out
}

/**
 * EVALSHA of one script with its frame written by {@link evalshaFrame}: sent with ioredis's
 * `sendCommand`, so the connection, its reply queue, reconnection and Sentinel stay ioredis's.
 */
export class EvalshaCommand extends Command {
  readonly #frame: Buffer

  constructor(sha: string, numberOfKeys: number, args: ReadonlyArray<string | number>) {
    super('evalsha', [], UTF8)
    this.#frame = evalshaFrame(sha, numberOfKeys, args)
  }

  override toWritable(_socket: object): Buffer {
    return this.#frame
  }
}

/**
 * `$7\r\nevalsha\r\n$<n>\r\n<sha>\r\n$<d>\r\n<numberOfKeys>\r\n` per script, made on first use
 * (keyed by the SHA1 string itself: the store passes the same string every time, whose hash V8 keeps).
 */
const prefixes = new Map<string, { numberOfKeys: number; bytes: Buffer }>()

function scriptPrefix(sha: string, numberOfKeys: number): Buffer {
  const p = prefixes.get(sha)
  if (p !== undefined && p.numberOfKeys === numberOfKeys) return p.bytes
  const bulk = (s: string) => `$${Buffer.byteLength(s, 'utf8')}\r\n${s}\r\n`
  const bytes = Buffer.from(bulk('evalsha') + bulk(sha) + bulk(String(numberOfKeys)), 'utf8')
  prefixes.set(sha, { numberOfKeys, bytes })
  return bytes
}

/** Characters of a non-negative integer in decimal. */
function digits(n: number): number {
  let d = 1
  for (let x = n; x >= 10; x = Math.floor(x / 10)) d++
  return d
}

/** `<mark><n>\r\n` at `o` (`*` array or `$` bulk length); returns the offset after it. */
function writeHead(out: Buffer, o: number, mark: number, n: number): number {
  out[o++] = mark
  const d = digits(n)
  let x = n
  for (let i = o + d - 1; i >= o; i--) {
    out[i] = 48 + (x % 10)
    x = Math.floor(x / 10)
  }
  o += d
  out[o++] = 13
  out[o++] = 10
  return o
}
