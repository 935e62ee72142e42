import { type Static, Type } from '@sinclair/typebox'
import { StringEnum } from '../schema-helpers.ts'

/**
 * Condition types every kube-sbc object reports, borrowed from Gateway API (as STUNner does):
 * `Accepted` — the spec is valid; `ResolvedRefs` — every reference resolves; `Programmed` — a config
 * containing this generation was acknowledged by the pods; `Ready` — the summary.
 */
export const ConditionType = {
  Accepted: 'Accepted',
  ResolvedRefs: 'ResolvedRefs',
  Programmed: 'Programmed',
  Ready: 'Ready',
} as const
export type ConditionType = (typeof ConditionType)[keyof typeof ConditionType]

/** Condition reasons (CamelCase, stable: tools and alerts match on them). */
export const ConditionReason = {
  /** Accepted=True: the object is valid. */
  Accepted: 'Accepted',
  /** Accepted=True with a warning the user should read (e.g. a shadowed routing rule). */
  AcceptedWithWarnings: 'AcceptedWithWarnings',
  /** Accepted=False: the spec violates the schema or one of its validation rules. */
  Invalid: 'Invalid',
  /** Accepted=False: the object conflicts with another one (same port, same order, ...). */
  Conflicted: 'Conflicted',
  /** Accepted=False: a regular expression in the object does not compile. */
  InvalidPattern: 'InvalidPattern',
  /** A warning finding: a routing rule can never match because an earlier rule covers it. */
  Shadowed: 'Shadowed',
  /** ResolvedRefs=True: every reference resolves to an accepted object. */
  ResolvedRefs: 'ResolvedRefs',
  /** ResolvedRefs=False: a referenced object does not exist. */
  RefNotFound: 'RefNotFound',
  /** ResolvedRefs=False: a referenced object exists but is itself not valid. */
  RefNotAccepted: 'RefNotAccepted',
  /** ResolvedRefs=False: a referenced Secret lacks a required key or has the wrong type. */
  InvalidSecret: 'InvalidSecret',
  /** Programmed=True: the signalling and media pods acknowledged a config with this generation. */
  Programmed: 'Programmed',
  /** Programmed=False: the pods have not acknowledged this generation yet. */
  Pending: 'Pending',
  /** Ready=True: accepted, resolved and programmed. */
  Ready: 'Ready',
  /** Ready=False: one of the other conditions is not True. */
  NotReady: 'NotReady',
} as const
export type ConditionReason = (typeof ConditionReason)[keyof typeof ConditionReason]

/** The status of a condition, as in `metav1.Condition`. */
export const ConditionStatus = { True: 'True', False: 'False', Unknown: 'Unknown' } as const
export type ConditionStatus = (typeof ConditionStatus)[keyof typeof ConditionStatus]

/** One condition, shaped exactly like `metav1.Condition` so generic Kubernetes tooling reads it. */
export const Condition = Type.Object(
  {
    type: Type.String({
      minLength: 1,
      maxLength: 316,
      pattern:
        '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$',
      description: 'Type of condition in CamelCase: Accepted, ResolvedRefs, Programmed or Ready.',
    }),
    status: StringEnum(['True', 'False', 'Unknown'], {
      description: 'Status of the condition: True, False or Unknown.',
    }),
    observedGeneration: Type.Optional(
      Type.Integer({
        minimum: 0,
        description: 'The metadata.generation of the object this condition was computed from.',
      }),
    ),
    lastTransitionTime: Type.String({
      format: 'date-time',
      description: 'When the condition last changed from one status to another.',
    }),
    reason: Type.String({
      minLength: 1,
      maxLength: 1024,
      pattern: '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$',
      description: 'Programmatic identifier of the reason for the last transition, in CamelCase.',
    }),
    message: Type.String({
      maxLength: 32768,
      description: 'Human-readable message with details about the transition; names the field at fault.',
    }),
  },
  { additionalProperties: false, description: 'A condition of the object (metav1.Condition).' },
)
export type Condition = Static<typeof Condition>

/** The list of conditions, a map keyed by `type` so server-side apply merges entries by type. */
export const ConditionList = Type.Array(Condition, {
  maxItems: 8,
  description: 'Conditions of the object: Accepted, ResolvedRefs, Programmed and Ready.',
  'x-kubernetes-list-type': 'map',
  'x-kubernetes-list-map-keys': ['type'],
})

/** The status every kind shares: the generation it describes and its conditions. */
export const commonStatusFields = {
  observedGeneration: Type.Optional(
    Type.Integer({ minimum: 0, description: 'The metadata.generation the operator last processed.' }),
  ),
  conditions: Type.Optional(ConditionList),
}

/** A status holding only the common fields. */
export const CommonStatus = Type.Object(commonStatusFields, {
  additionalProperties: false,
  description: 'Observed state, written by the operator.',
})
export type CommonStatus = Static<typeof CommonStatus>
