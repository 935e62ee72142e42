import { readdirSync, readFileSync } from 'node:fs'

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ; 100 on every Linux we run on). */
const USER_HZ = 100

/**
 * The /proc/<pid>/stat fields after the command name (which is parenthesised and may contain spaces)
 * of every live process in process group `pgid`, with its PID. Multi-process servers (Kamailio
 * forks workers) are started as group leaders so their whole tree is found; a single-process server
 * is simply a group of one.
 */
function groupStats(pgid: number): { pid: number; rest: string[] }[] {
  const found: { pid: number; rest: string[] }[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    let stat: string
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
    } catch {
      continue // the process exited between readdir and read
    }
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    if (Number(rest[2]) === pgid) found.push({ pid: Number(entry), rest })
  }
  return found
}

/** CPU seconds (user + system) used so far by every live process in process group `pgid`. */
export function groupCpuSeconds(pgid: number): number {
  let ticks = 0
  for (const { rest } of groupStats(pgid)) ticks += Number(rest[11]) + Number(rest[12]) // utime, stime
  return ticks / USER_HZ
}

/** The PIDs of every live process in process group `pgid`. */
export function groupPids(pgid: number): number[] {
  return groupStats(pgid).map((p) => p.pid)
}

/** CPU seconds (user + system) used so far by process `pid` alone (0 once it has exited). */
export function pidCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(rest[11]) + Number(rest[12])) / USER_HZ
  } catch {
    return 0
  }
}

/** Resident set size in bytes of every process in group `pgid` (shared pages counted per process). */
export function groupRssBytes(pgid: number): number {
  let bytes = 0
  for (const { rest } of groupStats(pgid)) bytes += Number(rest[21]) * 4096
  return bytes
}

/**
 * CPU seconds (user + system) of this process's children that have exited and been reaped
 * (`cutime` + `cstime` of /proc/self/stat). Node reaps its children, so the difference across a load
 * is the CPU of the load generators that ran and exited in it (SIPp UACs), with no PID to follow.
 */
export function reapedChildrenCpuSeconds(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8')
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(rest[13]) + Number(rest[14])) / USER_HZ
}

/** Seconds of CPU the whole machine has spent busy (all cores, anyone's processes) and stolen by the hypervisor. */
export interface MachineCpu {
  busy: number
  steal: number
}

/** The machine's busy time from /proc/stat: user + nice + system + irq + softirq (not idle, iowait, steal). */
export function machineCpuSeconds(): MachineCpu {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? ''
  const [, user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).map(Number)
  return {
    busy: ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0)) / USER_HZ,
    steal: (steal ?? 0) / USER_HZ,
  }
}
