import { collectDefaultMetrics, Registry } from 'prom-client'

/**
 * A fresh prom-client registry per process (never the global default registry, so tests can run
 * several components in one process without metric name clashes), with the process and Node.js
 * runtime metrics that every component exports.
 */
export function createMetricsRegistry(defaultLabels: Record<string, string> = {}): Registry {
  const registry = new Registry()
  registry.setDefaultLabels(defaultLabels)
  collectDefaultMetrics({ register: registry })
  return registry
}
