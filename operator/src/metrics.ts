import { Counter, Gauge, Histogram, type Registry } from 'prom-client'
import type { ControllerMetrics } from '../../lib/kube/controller.ts'
import type { WorkQueueMetrics } from '../../lib/kube/work-queue.ts'
import type { ConfigMetrics } from './controllers/config-controller.ts'

/**
 * The operator's metrics, with controller-runtime's names (runtime contract, "Metrics names") so
 * dashboards written for Go operators work, plus `sbc_config_generation` and
 * `sbc_config_generation_acked{role}` (labelled by SBC too: one operator serves many).
 */
export class OperatorMetrics {
  readonly #reconcileTotal: Counter<'controller' | 'result'>
  readonly #reconcileErrors: Counter<'controller'>
  readonly #reconcileTime: Histogram<'controller'>
  readonly #depth: Gauge<'name'>
  readonly #adds: Counter<'name'>
  readonly #queueDuration: Histogram<'name'>
  readonly #workDuration: Histogram<'name'>
  readonly #retries: Counter<'name'>
  readonly #leader: Gauge<'name'>
  readonly #generation: Gauge<'namespace' | 'sbc'>
  readonly #acked: Gauge<'namespace' | 'sbc' | 'role'>

  constructor(registry: Registry) {
    const registers = [registry]
    const buckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]
    this.#reconcileTotal = new Counter({
      name: 'controller_runtime_reconcile_total',
      help: 'Total number of reconciliations per controller.',
      labelNames: ['controller', 'result'],
      registers,
    })
    this.#reconcileErrors = new Counter({
      name: 'controller_runtime_reconcile_errors_total',
      help: 'Total number of reconciliation errors per controller.',
      labelNames: ['controller'],
      registers,
    })
    this.#reconcileTime = new Histogram({
      name: 'controller_runtime_reconcile_time_seconds',
      help: 'Length of time per reconciliation per controller.',
      labelNames: ['controller'],
      buckets,
      registers,
    })
    this.#depth = new Gauge({
      name: 'workqueue_depth',
      help: 'Current depth of workqueue.',
      labelNames: ['name'],
      registers,
    })
    this.#adds = new Counter({
      name: 'workqueue_adds_total',
      help: 'Total number of adds handled by workqueue.',
      labelNames: ['name'],
      registers,
    })
    this.#queueDuration = new Histogram({
      name: 'workqueue_queue_duration_seconds',
      help: 'How long in seconds an item stays in workqueue before being requested.',
      labelNames: ['name'],
      buckets,
      registers,
    })
    this.#workDuration = new Histogram({
      name: 'workqueue_work_duration_seconds',
      help: 'How long in seconds processing an item from workqueue takes.',
      labelNames: ['name'],
      buckets,
      registers,
    })
    this.#retries = new Counter({
      name: 'workqueue_retries_total',
      help: 'Total number of retries handled by workqueue.',
      labelNames: ['name'],
      registers,
    })
    this.#leader = new Gauge({
      name: 'leader_election_master_status',
      help: 'Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master.',
      labelNames: ['name'],
      registers,
    })
    this.#generation = new Gauge({
      name: 'sbc_config_generation',
      help: 'Generation of the newest published SbcConfig snapshot.',
      labelNames: ['namespace', 'sbc'],
      registers,
    })
    this.#acked = new Gauge({
      name: 'sbc_config_generation_acked',
      help: 'Lowest config generation acknowledged by the live pods of a role.',
      labelNames: ['namespace', 'sbc', 'role'],
      registers,
    })
  }

  controller(name: string): ControllerMetrics {
    return {
      reconciled: (result, durationMs) => {
        this.#reconcileTotal.inc({ controller: name, result })
        if (result === 'error') this.#reconcileErrors.inc({ controller: name })
        this.#reconcileTime.observe({ controller: name }, durationMs / 1000)
      },
    }
  }

  queue(name: string): WorkQueueMetrics {
    return {
      add: () => this.#adds.inc({ name }),
      depth: (n) => this.#depth.set({ name }, n),
      queueLatency: (ms) => this.#queueDuration.observe({ name }, ms / 1000),
      workDuration: (ms) => this.#workDuration.observe({ name }, ms / 1000),
      retry: () => this.#retries.inc({ name }),
    }
  }

  leader(name: string, leading: boolean): void {
    this.#leader.set({ name }, leading ? 1 : 0)
  }

  get config(): ConfigMetrics {
    return {
      generation: (namespace, sbc, generation) => this.#generation.set({ namespace, sbc }, generation),
      acked: (namespace, sbc, byRole) => {
        for (const [role, g] of Object.entries(byRole)) this.#acked.set({ namespace, sbc, role }, g)
      },
    }
  }
}
