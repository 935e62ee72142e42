import { type ControlPlane, type ControlPlaneOptions, startControlPlane } from './control-plane.ts'

type Mode = NonNullable<ControlPlaneOptions['mode']>

const instances = new Map<Mode, Promise<ControlPlane>>()

/**
 * One control plane per mode for the whole mocha run, started on first use, so suites do not each
 * pay the start-up cost. Suites must isolate themselves (their own namespace, uniquely named
 * cluster-scoped objects) and must not stop it: a root after-all hook does that.
 *
 * Full mode starts one fake node, `kwok-node-0`; suites that need their own nodes or labels call
 * `addNode` with unique names.
 */
export function sharedControlPlane(mode: Mode = 'apiserver'): Promise<ControlPlane> {
  let p = instances.get(mode)
  if (!p) {
    p = startControlPlane({ mode })
    instances.set(mode, p)
    // A failed start is reported to every suite that asks, and not retried (it would fail again).
  }
  return p
}

/** Stops every shared control plane (the root after-all hook calls this). */
export async function stopSharedControlPlanes(): Promise<void> {
  const all = [...instances.values()]
  instances.clear()
  await Promise.all(all.map(async (p) => (await p.catch(() => undefined))?.stop()))
}

// Registered at module load, outside any describe: mocha makes it a root hook, run once after all
// suites. Guarded so importing this module outside mocha (a script) does not fail.
if (typeof after === 'function') {
  after(async function () {
    this.timeout(60_000)
    await stopSharedControlPlanes()
  })
}
