import { Command } from 'ioredis'

/** Replies as strings, as ioredis's named commands return them. */
const UTF8 = { replyEncoding: 'utf8' } as const

/**
 * `EVALSHA sha numberOfKeys ...args` as the RESP frame Redis reads (an array of bulk strings),
 * written straight into one Buffer. ioredis's `Command#toWritable` builds the same frame as a string
 * of ~5 concatenations per argument, which the socket write then flattens and encodes: ~1.5 kB of
 * short-lived heap per script call carrying a call's state, a large share of the young-generation
 * garbage of a call (docs/benchmarks/signalling.md, "Session 5: allocation"). Here the only heap
 * object is the Buffer's view; its bytes come from Node's buffer pool, outside the JS heap.
 *
 * Numbers are written as `String(n)` writes them, as ioredis does. Strings are UTF-8.
 */
export function evalshaFrame(
  sha: string,
  numberOfKeys: number,
  args: ReadonlyArray<string | number>,
): Buffer {
  const count = args.length
  const lengths: number[] = new Array(count)
  let total =
    frameHeadLength(count + 3) + bulkLength(7) + bulkLength(sha.length) + bulkLength(digits(numberOfKeys))
  for (let i = 0; i < count; i++) {
    const a = args[i]!
    const n = typeof a === 'string' ? utf8Length(a) : digits(a)
    lengths[i] = n
    total += bulkLength(n)
  }
  const out = Buffer.allocUnsafe(total)
  let o = writeHead(out, 0, 42 /* * */, count + 3)
  o = writeAsciiBulk(out, o, 'evalsha')
  o = writeAsciiBulk(out, o, sha)
  o = writeNumberBulk(out, o, numberOfKeys)
  for (let i = 0; i < count; i++) {
    const a = args[i]!
    if (typeof a !== 'string') {
      o = writeNumberBulk(out, o, a)
      continue
    }
    const n = lengths[i]!
    o = writeHead(out, o, 36, n)
    // Keys and ids are short and ASCII: a loop is cheaper than a call into C++ for them.
    o = n === a.length && n <= 64 ? writeAscii(out, o, a) : o + out.write(a, o, n, 'utf8')
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

/** UTF-8 octets of `s`: its length when it is ASCII (the usual key or id), else counted by Node. */
function utf8Length(s: string): number {
  const n = s.length
  if (n <= 64) {
    let i = 0
    while (i < n && s.charCodeAt(i) < 0x80) i++
    if (i === n) return n
  }
  return Buffer.byteLength(s, 'utf8')
}

/** Characters of `String(n)`. */
function digits(n: number): number {
  if (Number.isInteger(n) && n >= 0 && n < 1e15) {
    let d = 1
    for (let x = n; x >= 10; x = Math.floor(x / 10)) d++
    return d
  }
  return String(n).length
}

/** Octets of `*<n>\r\n` or `$<n>\r\n`. */
function frameHeadLength(n: number): number {
  return digits(n) + 3
}

/** Octets of a bulk string of `n` octets: `$<n>\r\n<octets>\r\n`. */
function bulkLength(n: number): number {
  return frameHeadLength(n) + n + 2
}

/** `<mark><n>\r\n` at `o`; returns the offset after it. */
function writeHead(out: Buffer, o: number, mark: number, n: number): number {
  out[o++] = mark
  o = writeDecimal(out, o, n)
  out[o++] = 13
  out[o++] = 10
  return o
}

/** The decimal digits of a non-negative integer at `o`. */
function writeDecimal(out: Buffer, o: number, n: number): number {
  const d = digits(n)
  let x = n
  for (let i = o + d - 1; i >= o; i--) {
    out[i] = 48 + (x % 10)
    x = Math.floor(x / 10)
  }
  return o + d
}

/** A number as a bulk string, `String(n)` as its text. */
function writeNumberBulk(out: Buffer, o: number, n: number): number {
  if (Number.isInteger(n) && n >= 0 && n < 1e15) {
    o = writeHead(out, o, 36, digits(n))
    o = writeDecimal(out, o, n)
  } else {
    return writeAsciiBulk(out, o, String(n))
  }
  out[o++] = 13
  out[o++] = 10
  return o
}

/** An ASCII string as a bulk string. */
function writeAsciiBulk(out: Buffer, o: number, s: string): number {
  o = writeHead(out, o, 36 /* $ */, s.length)
  o = writeAscii(out, o, s)
  out[o++] = 13
  out[o++] = 10
  return o
}

/** An ASCII string at `o`, one octet per character. */
function writeAscii(out: Buffer, o: number, s: string): number {
  for (let i = 0; i < s.length; i++) out[o++] = s.charCodeAt(i)
  return o
}
