import type { TSchema } from '@sinclair/typebox'
import { IPGroupSpec, IPGroupStatus } from './ip-group.ts'
import { IPProfileSpec, IPProfileStatus } from './ip-profile.ts'
import { MediaRealmSpec, MediaRealmStatus } from './media-realm.ts'
import { RoutingRuleSpec, RoutingRuleStatus } from './routing-rule.ts'
import { SessionBorderControllerSpec, SessionBorderControllerStatus } from './session-border-controller.ts'
import { SipInterfaceSpec, SipInterfaceStatus } from './sip-interface.ts'

/** API group of every kube-sbc kind. */
export const GROUP = 'sbc.kubesbc.io'
/** The version this folder defines. */
export const VERSION = 'v1alpha1'
/** `apiVersion` of objects of this version. */
export const API_VERSION = `${GROUP}/${VERSION}`
/** The category every kind joins, so `kubectl get sbc` lists them all. */
export const CATEGORY = 'sbc'

/** Kind names. */
export const Kinds = {
  SessionBorderController: 'SessionBorderController',
  SipInterface: 'SipInterface',
  MediaRealm: 'MediaRealm',
  IPProfile: 'IPProfile',
  IPGroup: 'IPGroup',
  RoutingRule: 'RoutingRule',
} as const
export type KindName = (typeof Kinds)[keyof typeof Kinds]

/** An additional printer column of `kubectl get`. */
export interface PrinterColumn {
  readonly name: string
  readonly type: 'string' | 'integer' | 'number' | 'boolean' | 'date'
  readonly jsonPath: string
  readonly description: string
  readonly priority?: number
}

/** Everything the generator and the validator need to know about one kind. */
export interface KindInfo {
  readonly kind: KindName
  readonly plural: string
  readonly singular: string
  readonly shortNames: readonly string[]
  /** One-paragraph description: the CRD's top-level description and the docs' intro. */
  readonly description: string
  readonly spec: TSchema
  readonly status: TSchema
  readonly printerColumns: readonly PrinterColumn[]
}

const readyColumns: readonly PrinterColumn[] = [
  {
    name: 'Accepted',
    type: 'string',
    jsonPath: '.status.conditions[?(@.type=="Accepted")].status',
    description: 'Whether the spec is valid.',
  },
  {
    name: 'Ready',
    type: 'string',
    jsonPath: '.status.conditions[?(@.type=="Ready")].status',
    description: 'Whether the object is accepted, resolved and programmed.',
  },
  { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp', description: 'Age of the object.' },
]

/** The registry of kinds, in dependency order (a kind only refers to kinds listed before it). */
export const kindRegistry: readonly KindInfo[] = [
  {
    kind: Kinds.MediaRealm,
    plural: 'mediarealms',
    singular: 'mediarealm',
    shortNames: ['mr'],
    description:
      'MediaRealm says where media of a group of calls is relayed: a network, UDP port range and SDP address.',
    spec: MediaRealmSpec,
    status: MediaRealmStatus,
    printerColumns: [
      { name: 'Network', type: 'string', jsonPath: '.spec.network', description: 'LAN or WAN.' },
      { name: 'Min', type: 'integer', jsonPath: '.spec.portRange.min', description: 'First port.' },
      { name: 'Max', type: 'integer', jsonPath: '.spec.portRange.max', description: 'Last port.' },
      ...readyColumns,
    ],
  },
  {
    kind: Kinds.SipInterface,
    plural: 'sipinterfaces',
    singular: 'sipinterface',
    shortNames: ['si'],
    description:
      'SipInterface says where the SBC listens for SIP: network, transports, ports, TLS and public identity.',
    spec: SipInterfaceSpec,
    status: SipInterfaceStatus,
    printerColumns: [
      { name: 'Network', type: 'string', jsonPath: '.spec.network', description: 'LAN or WAN.' },
      {
        name: 'Transports',
        type: 'string',
        jsonPath: '.spec.listeners[*].transport',
        description: 'Transports.',
      },
      { name: 'Ports', type: 'string', jsonPath: '.spec.listeners[*].port', description: 'Ports.' },
      ...readyColumns,
    ],
  },
  {
    kind: Kinds.IPProfile,
    plural: 'ipprofiles',
    singular: 'ipprofile',
    shortNames: ['ipp'],
    description:
      'IPProfile holds per-leg media and identity behaviour shared by IP groups: SRTP, ICE, codecs, PAI.',
    spec: IPProfileSpec,
    status: IPProfileStatus,
    printerColumns: [
      { name: 'SRTP', type: 'string', jsonPath: '.spec.media.srtp.mode', description: 'SRTP mode.' },
      ...readyColumns,
    ],
  },
  {
    kind: Kinds.IPGroup,
    plural: 'ipgroups',
    singular: 'ipgroup',
    shortNames: ['ipg'],
    description:
      'IPGroup is a peer of the SBC: its SIP interface, profile, proxies, classification and limits.',
    spec: IPGroupSpec,
    status: IPGroupStatus,
    printerColumns: [
      {
        name: 'Interface',
        type: 'string',
        jsonPath: '.spec.sipInterfaceRef.name',
        description: 'SipInterface.',
      },
      { name: 'Profile', type: 'string', jsonPath: '.spec.ipProfileRef.name', description: 'IPProfile.' },
      { name: 'Calls', type: 'integer', jsonPath: '.status.activeCalls', description: 'Active calls.' },
      ...readyColumns,
    ],
  },
  {
    kind: Kinds.RoutingRule,
    plural: 'routingrules',
    singular: 'routingrule',
    shortNames: ['rr'],
    description:
      'RoutingRule is one row of the routing table: a match and either a route to IP groups or a local reply.',
    spec: RoutingRuleSpec,
    status: RoutingRuleStatus,
    printerColumns: [
      { name: 'Order', type: 'integer', jsonPath: '.spec.order', description: 'Evaluation order.' },
      ...readyColumns,
    ],
  },
  {
    kind: Kinds.SessionBorderController,
    plural: 'sessionbordercontrollers',
    singular: 'sessionbordercontroller',
    shortNames: ['ksbc'],
    description:
      'SessionBorderController is the SBC itself: its workloads, Redis, NAT, security and which objects belong to it.',
    spec: SessionBorderControllerSpec,
    status: SessionBorderControllerStatus,
    printerColumns: [
      {
        name: 'Replicas',
        type: 'integer',
        jsonPath: '.spec.signalling.replicas',
        description: 'Signalling pods.',
      },
      {
        name: 'Config',
        type: 'integer',
        jsonPath: '.status.configGeneration',
        description: 'Published config generation.',
      },
      ...readyColumns,
    ],
  },
]

/** Looks up a kind of this group and version. */
export function kindInfo(kind: string): KindInfo | undefined {
  return kindRegistry.find((k) => k.kind === kind)
}
