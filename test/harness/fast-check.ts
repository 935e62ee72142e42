import type { Parameters } from 'fast-check'

/**
 * fast-check parameters for the property tests: a fixed seed, so a run is reproducible and a
 * failure's report (fast-check prints `seed` and `path` with the counterexample) replays as it is.
 * `FC_SEED` picks another seed for an exploratory run and `FC_RUNS` multiplies the number of runs;
 * neither is set in CI.
 */
export function fcParams<T>(numRuns: number, extra: Parameters<T> = {}): Parameters<T> {
  const seed = process.env.FC_SEED === undefined ? 0x5bc_f022 : Number(process.env.FC_SEED)
  const factor = process.env.FC_RUNS === undefined ? 1 : Number(process.env.FC_RUNS)
  return { seed, numRuns: Math.max(1, Math.round(numRuns * factor)), ...extra }
}
