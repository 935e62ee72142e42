import { API_VERSION, CATEGORY, GROUP, type KindInfo, VERSION } from '../v1alpha1/group.ts'
import { type JsonSchema, toStructural } from './to-structural.ts'

/** The `openAPIV3Schema` of a kind: the Kubernetes object envelope around its spec and status. */
export function openApiSchema(info: KindInfo): JsonSchema {
  return {
    type: 'object',
    description: info.description,
    properties: {
      apiVersion: {
        type: 'string',
        description: `APIVersion of the object: ${API_VERSION}.`,
      },
      kind: { type: 'string', description: `Kind of the object: ${info.kind}.` },
      // The API server forbids anything but type on metadata (not even a description).
      metadata: { type: 'object' },
      spec: toStructural(info.spec),
      status: toStructural(info.status),
    },
    required: ['spec'],
  }
}

/** The apiextensions.k8s.io/v1 CustomResourceDefinition of a kind. */
export function buildCrd(info: KindInfo): JsonSchema {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${info.plural}.${GROUP}`,
      labels: { 'app.kubernetes.io/part-of': 'kube-sbc' },
    },
    spec: {
      group: GROUP,
      names: {
        kind: info.kind,
        listKind: `${info.kind}List`,
        plural: info.plural,
        singular: info.singular,
        shortNames: [...info.shortNames],
        categories: [CATEGORY],
      },
      scope: 'Namespaced',
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: info.printerColumns.map((c) => ({ ...c })),
          schema: { openAPIV3Schema: openApiSchema(info) },
        },
      ],
    },
  }
}
