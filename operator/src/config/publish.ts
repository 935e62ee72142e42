import type { KubernetesObject } from '@kubernetes/client-node'
import type { Verdict } from '../../../lib/config/compile/verdict.ts'
import type { SbcConfig } from '../../../lib/config/model.ts'
import { jsonEqual } from '../../../lib/kube/conditions.ts'
import { ANNOTATION_GENERATION, CONFIG_KEY, commonLabels, configMapName, OBJECTS_KEY } from '../names.ts'
import { ownerReference } from '../owner.ts'

/** `Kind/name` → the metadata.generation last seen and the config generation that first contained it. */
export type GenerationMap = Record<string, { generation: number; configGeneration: number }>

/** The ConfigMap as the operator publishes it. */
export interface ConfigMapObject extends KubernetesObject {
  data?: Record<string, string>
}

/** What is published now, read from the ConfigMap (or nothing). */
export interface Published {
  readonly generation: number
  readonly config: unknown
  readonly objects: GenerationMap
}

/** Reads a published ConfigMap leniently: anything unreadable counts as absent. */
export function readPublished(cm: ConfigMapObject | undefined): Published | undefined {
  if (cm === undefined) return undefined
  const raw = cm.metadata?.annotations?.[ANNOTATION_GENERATION] ?? ''
  const generation = /^\d+$/.test(raw) ? Number(raw) : 0
  const parse = (s: string | undefined): unknown => {
    try {
      return s === undefined ? undefined : JSON.parse(s)
    } catch {
      return undefined
    }
  }
  const objects = parse(cm.data?.[OBJECTS_KEY])
  return {
    generation,
    config: parse(cm.data?.[CONFIG_KEY]),
    objects: typeof objects === 'object' && objects !== null ? (objects as GenerationMap) : {},
  }
}

/** The decision of one publication round. */
export interface Publication {
  readonly generation: number
  readonly config: SbcConfig
  readonly objects: GenerationMap
  /** The compiled content differs from what is published: the generation was bumped. */
  readonly configChanged: boolean
  /** The ConfigMap must be written (config or generation map changed, or it is missing). */
  readonly write: boolean
}

/**
 * Decides the next publication. The generation increases by one only when the compiled content
 * (everything but `generation`) differs from the published one; `floor` (the SBC's
 * status.configGeneration) keeps it from going backwards if the ConfigMap was deleted. The
 * generation map records, for every object that made it into the config, which config
 * generation first contained its current metadata.generation (`Programmed` compares the pods'
 * acknowledgement with it).
 */
export function decidePublication(
  compiled: SbcConfig,
  verdicts: readonly Verdict[],
  published: Published | undefined,
  floor: number,
): Publication {
  const current = Math.max(published?.generation ?? 0, floor)
  const same = published !== undefined && jsonEqual({ ...compiled, generation: current }, published.config)
  const generation = same ? current : current + 1
  const config = { ...compiled, generation }
  const objects: GenerationMap = {}
  for (const v of verdicts) {
    if (!v.included || v.generation === undefined) continue
    const key = `${v.kind}/${v.name}`
    const prev = published?.objects[key]
    objects[key] =
      prev !== undefined && prev.generation === v.generation && prev.configGeneration <= generation
        ? prev
        : { generation: v.generation, configGeneration: generation }
  }
  const write = !same || published === undefined || !jsonEqual(objects, published.objects)
  return { generation, config, objects, configChanged: !same, write }
}

/** The ConfigMap `<sbc>-config` (contract: key config.json, annotation generation, owned by the SBC). */
export function configMap(sbc: KubernetesObject, p: Publication): ConfigMapObject {
  const name = sbc.metadata?.name ?? ''
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: configMapName(name),
      namespace: sbc.metadata?.namespace,
      labels: commonLabels(name, 'config'),
      annotations: { [ANNOTATION_GENERATION]: String(p.generation) },
      ownerReferences: [ownerReference(sbc)],
    },
    data: { [CONFIG_KEY]: JSON.stringify(p.config), [OBJECTS_KEY]: JSON.stringify(p.objects) },
  }
}
