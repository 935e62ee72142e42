import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { KubernetesObject } from '@kubernetes/client-node'
import { parseAllDocuments } from 'yaml'
import { applyObject } from '../../lib/kube/apply.ts'
import type { KubeClient } from '../../lib/kube/kube-client.ts'
import { eventually } from '../../test/control-plane/eventually.ts'
import { render } from '../../test/helm/chart.ts'

const root = join(import.meta.dirname, '..', '..')

function yamlObjects(file: string): KubernetesObject[] {
  return parseAllDocuments(readFileSync(file, 'utf8'))
    .map((d) => d.toJS() as KubernetesObject | null)
    .filter((o): o is KubernetesObject => o !== null)
}

/** Installs crds/*.yaml with server-side apply and waits until every CRD is Established. */
export async function installCrds(client: KubeClient): Promise<string[]> {
  const dir = join(root, 'crds')
  const crds = readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .flatMap((f) => yamlObjects(join(dir, f)))
  for (const crd of crds) await applyObject(client, crd, { fieldManager: 'kube-sbc-test' })
  await eventually(async () => {
    for (const crd of crds) {
      const got = await client.get<{ status?: { conditions?: { type: string; status: string }[] } }>({
        apiVersion: 'apiextensions.k8s.io/v1',
        kind: 'CustomResourceDefinition',
        name: crd.metadata?.name ?? '',
      })
      if (!got?.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True'))
        throw new Error(`${crd.metadata?.name} not established`)
    }
  })
  return crds.map((c) => c.metadata?.name ?? '')
}

/** examples/uclab with the namespace replaced, so suites sharing a control plane do not collide. */
export function uclabIn(namespace: string): KubernetesObject[] {
  const dir = join(root, 'examples', 'uclab')
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .flatMap((f) => yamlObjects(join(dir, f)))
    .map((o) => ({ ...o, metadata: { ...o.metadata, namespace } }))
}

/**
 * The operator's RBAC exactly as the Helm chart renders it (ServiceAccount, ClusterRole,
 * ClusterRoleBinding, leader-election Role and RoleBinding), applied as admin. Returns the
 * ServiceAccount name.
 */
export async function applyChartRbac(
  client: KubeClient,
  release: string,
  namespace: string,
): Promise<string> {
  const kinds = new Set(['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding'])
  const objs = render({ release, namespace }).filter((o) => kinds.has(o.kind))
  let sa = ''
  for (const o of objs) {
    const obj = { ...o, metadata: { ...o.metadata, ...(o.kind.startsWith('Cluster') ? {} : { namespace }) } }
    await applyObject(client, obj as KubernetesObject, { fieldManager: 'kube-sbc-test' })
    if (o.kind === 'ServiceAccount') sa = o.metadata.name
  }
  return sa
}
