import { join } from 'node:path'
import type { KubernetesObject } from '@kubernetes/client-node'
import { listYamlFiles, loadObjects } from '../../../cli/load-objects.ts'

/** The examples/uclab objects, as the API server would hold them (generation 1, a uid). */
export function uclabObjects(): KubernetesObject[] {
  const dir = join(import.meta.dirname, '..', '..', '..', 'examples', 'uclab')
  return loadObjects(listYamlFiles([dir])).objects.map(({ object }, i) => {
    const o = structuredClone(object) as KubernetesObject
    o.metadata = {
      ...o.metadata,
      uid: `uid-${i}`,
      generation: 1,
      creationTimestamp: '2026-11-26T10:00:00Z' as unknown as Date,
    }
    return o
  })
}
