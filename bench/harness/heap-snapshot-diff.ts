/**
 * Where the bytes of a V8 heap grew between two snapshots of one process (bench/media-session-heap.bench.ts
 * writes them with a snapshot directory): self size and count by node type and constructor, after −
 * before, divided by the number of sessions added in between; and, for the objects that are new in
 * `after` (by snapshot node id), the same grouped by their property names, which tells which record
 * of the session table they are. Usage:
 *   node --max-old-space-size=4000 bench/harness/heap-snapshot-diff.ts before.heapsnapshot after.heapsnapshot sessions [rows=30]
 */
import { readFileSync } from 'node:fs'

interface Snapshot {
  snapshot: {
    meta: { node_fields: string[]; node_types: [string[]]; edge_fields: string[]; edge_types: [string[]] }
  }
  nodes: number[]
  edges: number[]
  strings: string[]
}

const [beforeFile, afterFile, sessionsArg, rowsArg] = process.argv.slice(2)
if (!beforeFile || !afterFile || !(Number(sessionsArg) > 0))
  throw new Error('usage: heap-snapshot-diff.ts before.heapsnapshot after.heapsnapshot sessions [rows]')
const sessions = Number(sessionsArg)
const rows = Number(rowsArg ?? 30)
const load = (f: string) => JSON.parse(readFileSync(f, 'utf8')) as Snapshot

/** Strings and numbers are grouped by type only (their names are their values). */
function keyOf(s: Snapshot, i: number): string {
  const f = s.snapshot.meta.node_fields
  const type = s.snapshot.meta.node_types[0][s.nodes[i + f.indexOf('type')] as number] as string
  const name = s.strings[s.nodes[i + f.indexOf('name')] as number] as string
  return /string|number/.test(type) ? type : `${type}:${name.slice(0, 40)}`
}

function byKey(s: Snapshot): Map<string, [number, number]> {
  const f = s.snapshot.meta.node_fields
  const out = new Map<string, [number, number]>()
  for (let i = 0; i < s.nodes.length; i += f.length) {
    const k = keyOf(s, i)
    const e = out.get(k) ?? [0, 0]
    e[0]++
    e[1] += s.nodes[i + f.indexOf('self_size')] as number
    out.set(k, e)
  }
  return out
}

const before = load(beforeFile)
const after = load(afterFile)
const a = byKey(before)
const b = byKey(after)
const diff: [string, number, number][] = []
let total = 0
for (const k of new Set([...a.keys(), ...b.keys()])) {
  const [c0, s0] = a.get(k) ?? [0, 0]
  const [c1, s1] = b.get(k) ?? [0, 0]
  diff.push([k, (c1 - c0) / sessions, (s1 - s0) / sessions])
  total += s1 - s0
}
diff.sort((x, y) => Math.abs(y[2]) - Math.abs(x[2]))
const line = (bytes: number, count: number, what: string) =>
  `${bytes.toFixed(1).padStart(9)} B ${count.toFixed(2).padStart(7)}  ${what}`
console.log(`self size after − before, per session: ${(total / sessions).toFixed(1)} B`)
for (const [k, c, s] of diff.slice(0, rows)) console.log(line(s, c, k))

// New objects by shape: their property names say which record they are.
const f = after.snapshot.meta.node_fields
const ef = after.snapshot.meta.edge_fields
const edgeTypes = after.snapshot.meta.edge_types[0]
const oldIds = new Set<number>()
const idField = f.indexOf('id')
for (let i = 0; i < before.nodes.length; i += f.length) oldIds.add(before.nodes[i + idField] as number)
const shapes = new Map<string, [number, number]>()
let edge = 0
for (let i = 0; i < after.nodes.length; i += f.length) {
  const edgeCount = after.nodes[i + f.indexOf('edge_count')] as number
  const names: string[] = []
  for (let k = 0; k < edgeCount; k++, edge += ef.length)
    if (edgeTypes[after.edges[edge + ef.indexOf('type')] as number] === 'property')
      names.push(after.strings[after.edges[edge + ef.indexOf('name_or_index')] as number] as string)
  if (oldIds.has(after.nodes[i + idField] as number)) continue
  const key = keyOf(after, i)
  const shape = key.startsWith('object:')
    ? `${key} {${names.filter((n) => n !== '__proto__').join(',')}}`
    : key
  const e = shapes.get(shape) ?? [0, 0]
  e[0]++
  e[1] += after.nodes[i + f.indexOf('self_size')] as number
  shapes.set(shape, e)
}
console.log('\nnew in after, by shape, per session:')
for (const [k, [c, s]] of [...shapes].sort((x, y) => y[1][1] - x[1][1]).slice(0, rows))
  console.log(line(s / sessions, c / sessions, k.slice(0, 160)))
