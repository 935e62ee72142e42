import type { KubernetesObject } from '@kubernetes/client-node'
import { type KubeClient, type ObjectRef, refOf } from './kube-client.ts'

/**
 * The one field manager the operator applies with. Fixed, so every reconcile re-asserts the same
 * ownership and fields we stop sending are removed by the server (SSA's "apply the whole intent").
 */
export const FIELD_MANAGER = 'kube-sbc-operator'

/** Options of {@link applyObject} and {@link applyStatus}. */
export interface ApplyOptions {
  /** Defaults to {@link FIELD_MANAGER}. */
  fieldManager?: string
  /**
   * Take over fields another manager set. Default `true`: we only send fields we own by design
   * (each desired-object builder documents them), so a conflict means someone edited our fields
   * by hand and the operator's intent must win. Set `false` to surface conflicts as 409 errors.
   */
  force?: boolean
  /** Server-side dry run: validate and return the result without persisting. */
  dryRun?: boolean
}

const APPLY_PATCH = 'application/apply-patch+yaml'

/**
 * Server-side apply of `obj` (a complete statement of the fields we own; JSON is valid YAML).
 * Returns the object as stored. Never send `status` here: the main resource ignores it when a
 * status subresource exists; use {@link applyStatus}.
 */
export async function applyObject<T extends KubernetesObject>(
  client: KubeClient,
  obj: T,
  options: ApplyOptions = {},
): Promise<T> {
  const body = { ...obj, metadata: { ...obj.metadata } }
  delete body.metadata.managedFields
  delete body.metadata.resourceVersion
  return client.request<T>({
    method: 'PATCH',
    path: await client.path(refOf(obj)),
    query: query(options),
    body,
    contentType: APPLY_PATCH,
  })
}

/**
 * Server-side apply to the `/status` subresource. `status` is the whole status this manager owns
 * (conditions, observedGeneration, ...); compute it once per reconcile and call this only when it
 * differs from the current one (`statusDiffers`).
 */
export async function applyStatus<T extends object = KubernetesObject>(
  client: KubeClient,
  ref: ObjectRef,
  status: unknown,
  options: ApplyOptions = {},
): Promise<T> {
  const metadata: { name: string; namespace?: string } = { name: ref.name }
  if (ref.namespace) metadata.namespace = ref.namespace
  return client.request<T>({
    method: 'PATCH',
    path: await client.path(ref, 'status'),
    query: query(options),
    body: { apiVersion: ref.apiVersion, kind: ref.kind, metadata, status },
    contentType: APPLY_PATCH,
  })
}

/**
 * JSON merge patch of the `/status` subresource, for status fields written by a non-apply client
 * (for example a pod acknowledging a generation). `resourceVersion` makes it conditional.
 */
export async function patchStatus<T extends object = KubernetesObject>(
  client: KubeClient,
  ref: ObjectRef,
  status: unknown,
  options: { resourceVersion?: string; fieldManager?: string } = {},
): Promise<T> {
  const metadata: Record<string, string> = {}
  if (options.resourceVersion) metadata.resourceVersion = options.resourceVersion
  return client.request<T>({
    method: 'PATCH',
    path: await client.path(ref, 'status'),
    query: { fieldManager: options.fieldManager ?? FIELD_MANAGER },
    body: { metadata, status },
    contentType: 'application/merge-patch+json',
  })
}

/** The managers of an object's fields, from `metadata.managedFields` (for tests and debugging). */
export function fieldManagers(
  obj: KubernetesObject,
): { manager: string; operation: string; subresource?: string }[] {
  return (obj.metadata?.managedFields ?? []).map((m) => {
    const entry: { manager: string; operation: string; subresource?: string } = {
      manager: m.manager ?? '',
      operation: m.operation ?? '',
    }
    if (m.subresource) entry.subresource = m.subresource
    return entry
  })
}

function query(options: ApplyOptions): Record<string, string | boolean | undefined> {
  return {
    fieldManager: options.fieldManager ?? FIELD_MANAGER,
    force: options.force ?? true,
    dryRun: options.dryRun ? 'All' : undefined,
  }
}
