/**
 * Native relay set-up cost against the number of legs its worker already holds (ADR 0040): one
 * call's native part = bind 4 legs (RTP and RTCP per party), connect them in pairs both ways, close
 * the 4, on a relay that holds `occupancy` other legs. Until 2026-11-27 `relayBind` and `relayClose`
 * each scanned the leg table (up to 2^20 slots); now a free list and a per-leg back link make both
 * O(1). `--baseline PATH` also runs another build of kube_sbc_media.node (e.g. one built from an older
 * commit), alternating with the current one run by run, so the two columns share the machine's state;
 * each run is a child process (two copies of the addon cannot share one: libsrtp initialises once).
 *
 * No traffic; the filler legs are bound on 127.0.0.2 with port 0 (loopback, out of the way of
 * 127.0.0.1's ports). Bounded: occupancy ≤ 18,000 (file descriptors), cycles ≤ 20,000, rounds ≤ 7.
 * Usage: node bench/relay-setup.bench.ts [occupancy=0,4000,16000] [cycles=2000] [rounds=3] [--baseline PATH]
 */
import { execFileSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { buildMediaAddon } from '../media-pod/native/build.ts'
import { loadMediaAddon, type MediaAddon } from '../media-pod/native/media-addon.ts'

const args = process.argv.slice(2)
const b = args.indexOf('--baseline')
const baselinePath = b >= 0 ? args.splice(b, 2)[1] : undefined
const o = args.indexOf('--one') // child mode: --one ADDON_PATH|current OCCUPANCY CYCLES
const one = o >= 0 ? args.splice(o, 4).slice(1) : undefined
const occupancies = (args[0] ?? '0,4000,16000').split(',').map(Number)
const cycles = Math.min(Number(args[1] ?? 2000), 20_000)
const rounds = Math.min(Number(args[2] ?? 3), 7)
for (const x of occupancies)
  if (!Number.isInteger(x) || x < 0 || x > 18_000) throw new Error('occupancy must be 0-18000 legs')

/** µs of wall-clock and of CPU per call at `occupancy`. */
function measure(addon: MediaAddon, occupancy: number, cycles: number): { wall: number; cpu: number } {
  const r = addon.relayCreate()
  addon.relayStart(r)
  const filler: number[] = []
  try {
    for (let i = 0; i < occupancy; i++) filler.push(addon.relayBind(r, '127.0.0.2', 0).leg)
    // Free a few slots deep in the table, as calls ending at random leave them.
    for (let i = 0; i < Math.min(8, filler.length); i++) {
      const at = Math.floor(((i + 0.5) * filler.length) / 8)
      addon.relayClose(r, filler[at] as number)
      filler.splice(at, 1, -1)
    }
    const cpu0 = process.cpuUsage()
    const t0 = process.hrtime.bigint()
    for (let c = 0; c < cycles; c++) {
      const legs = [0, 1, 2, 3].map(() => addon.relayBind(r, '127.0.0.2', 0).leg) as [
        number,
        number,
        number,
        number,
      ]
      addon.relayConnect(r, legs[0], legs[2])
      addon.relayConnect(r, legs[2], legs[0])
      addon.relayConnect(r, legs[1], legs[3])
      addon.relayConnect(r, legs[3], legs[1])
      for (const l of legs) addon.relayClose(r, l)
    }
    const wall = Number(process.hrtime.bigint() - t0) / 1000 / cycles
    const u = process.cpuUsage(cpu0)
    return { wall, cpu: (u.user + u.system) / cycles }
  } finally {
    addon.relayStop(r)
    for (const l of filler) if (l >= 0) addon.relayClose(r, l)
  }
}

if (one) {
  const [path, occupancy, n] = one as [string, string, string]
  let addon: MediaAddon | null
  if (path === 'current') {
    buildMediaAddon()
    addon = loadMediaAddon()
  } else addon = createRequire(import.meta.url)(path) as MediaAddon
  if (!addon) throw new Error('media addon missing')
  process.stdout.write(JSON.stringify(measure(addon, Number(occupancy), Math.min(Number(n), 20_000))))
  process.exit(0)
}

const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[xs.length >> 1] as number
const out = (s: string) => process.stdout.write(`${s}\n`)
const addons: [string, string][] = [['current', 'current']]
if (baselinePath) addons.unshift(['baseline', baselinePath])
buildMediaAddon()
out(`relay-setup: ${cycles} calls per run, ${rounds} rounds, addons ${addons.map(([n]) => n).join(', ')}`)
const results = new Map<string, { wall: number; cpu: number }[]>()
for (let round = 0; round < rounds; round++) {
  for (const occupancy of occupancies) {
    const order = round % 2 === 0 ? addons : [...addons].reverse()
    for (const [name, path] of order) {
      const m = JSON.parse(
        execFileSync(
          process.execPath,
          [fileURLToPath(import.meta.url), '--one', path, String(occupancy), String(cycles)],
          { encoding: 'utf8', timeout: 300_000 },
        ),
      ) as { wall: number; cpu: number }
      const key = `${name}|${occupancy}`
      results.set(key, [...(results.get(key) ?? []), m])
      out(
        `round ${round + 1} ${name.padEnd(8)} ${String(occupancy).padStart(6)} legs held: ${m.wall.toFixed(1)} µs wall, ${m.cpu.toFixed(1)} µs CPU per call`,
      )
    }
  }
}
out('')
out(
  '| legs held | addon | µs per call set-up + tear-down (wall, median) | µs CPU (median) | CPU ratio to baseline |',
)
out('| --- | --- | --- | --- | --- |')
for (const occupancy of occupancies) {
  const base = results.get(`baseline|${occupancy}`)
  for (const [name] of addons) {
    const rs = results.get(`${name}|${occupancy}`) ?? []
    const cpu = median(rs.map((x) => x.cpu))
    const ratio = base && name !== 'baseline' ? (cpu / median(base.map((x) => x.cpu))).toFixed(3) : '–'
    out(
      `| ${occupancy} | ${name} | ${median(rs.map((x) => x.wall)).toFixed(1)} | ${cpu.toFixed(1)} | ${ratio} |`,
    )
  }
}
