import { randomBytes } from 'node:crypto'
import type { KubernetesObject } from '@kubernetes/client-node'
import { applyObject, applyStatus } from '../../lib/kube/apply.ts'
import type { KubeClient, ObjectRef } from '../../lib/kube/kube-client.ts'
import { microTime } from '../../lib/kube/leader-election.ts'

/** An Event about one object (events.k8s.io/v1). */
export interface EventSpec {
  regarding: KubernetesObject
  type: 'Normal' | 'Warning'
  reason: string
  action: string
  note: string
}

/**
 * Every write the controllers make, behind one interface so pure tests record writes instead of
 * sending them (and can assert that a second reconcile writes nothing).
 */
export interface OperatorApi {
  /** A fresh read (not a cache): used where a stale cache would publish a generation twice. */
  get<T extends object = KubernetesObject>(ref: ObjectRef): Promise<T | undefined>
  /** Server-side apply with field manager `kube-sbc-operator`. */
  apply<T extends KubernetesObject>(obj: T): Promise<T>
  applyStatus(ref: ObjectRef, status: unknown): Promise<void>
  delete(ref: ObjectRef): Promise<void>
  /** Best effort: failures are the caller's to log, never to retry. */
  event(e: EventSpec): Promise<void>
}

/** The {@link OperatorApi} over the API server. */
export class KubeOperatorApi implements OperatorApi {
  readonly #client: KubeClient
  readonly #instance: string

  constructor(client: KubeClient, reportingInstance: string) {
    this.#client = client
    this.#instance = reportingInstance
  }

  get<T extends object = KubernetesObject>(ref: ObjectRef): Promise<T | undefined> {
    return this.#client.get<T>(ref)
  }

  apply<T extends KubernetesObject>(obj: T): Promise<T> {
    return applyObject(this.#client, obj)
  }

  async applyStatus(ref: ObjectRef, status: unknown): Promise<void> {
    await applyStatus(this.#client, ref, status)
  }

  async delete(ref: ObjectRef): Promise<void> {
    await this.#client.delete(ref)
  }

  async event(e: EventSpec): Promise<void> {
    const m = e.regarding.metadata ?? {}
    const namespace = m.namespace ?? 'default'
    await this.#client.create({
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: { name: `${m.name}.${randomBytes(8).toString('hex')}`, namespace },
      eventTime: microTime(Date.now()),
      reportingController: 'kube-sbc.io/operator',
      reportingInstance: this.#instance.slice(0, 128),
      action: e.action,
      reason: e.reason,
      type: e.type,
      note: e.note.slice(0, 1024),
      regarding: {
        apiVersion: e.regarding.apiVersion,
        kind: e.regarding.kind,
        name: m.name,
        namespace,
        uid: m.uid,
        resourceVersion: m.resourceVersion,
      },
    } as KubernetesObject)
  }
}
