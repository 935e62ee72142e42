import { ConditionReason, ConditionType } from '../../api/v1alpha1/conditions.ts'
import { API_VERSION, type KindName, Kinds } from '../../api/v1alpha1/group.ts'
import type { IPGroupSpec } from '../../api/v1alpha1/ip-group.ts'
import type { IPProfileSpec } from '../../api/v1alpha1/ip-profile.ts'
import type { MediaRealmSpec } from '../../api/v1alpha1/media-realm.ts'
import type { RoutingRuleSpec } from '../../api/v1alpha1/routing-rule.ts'
import type { SessionBorderControllerSpec } from '../../api/v1alpha1/session-border-controller.ts'
import type { SipInterfaceSpec } from '../../api/v1alpha1/sip-interface.ts'
import { validateSpec } from '../../api/v1alpha1/validate-spec.ts'
import { ControllerNotFoundError } from '../errors.ts'
import { SBC_CONFIG_SCHEMA_VERSION, type SbcConfig } from '../model.ts'
import { type Candidate, CompileContext, type SecretInfo, secretInfo } from './context.ts'
import { compileIPGroups } from './ip-group.ts'
import { compileIPProfiles } from './ip-profile.ts'
import { compileMediaRealms } from './media-realm.ts'
import { type KubeObject, labelsOf, nameOf, namespaceOf } from './objects.ts'
import { compileRoutingRules } from './routing-rule.ts'
import { compileController, DEFAULT_CONTROLLER_SETTINGS } from './session-border-controller.ts'
import { compileSipInterfaces } from './sip-interface.ts'
import { type Verdict, VerdictBuilder } from './verdict.ts'

/** Options of one compilation. */
export interface CompileOptions {
  /** Generation stamped on the snapshot (the operator bumps it on every published change). */
  readonly generation: number
  /**
   * Which SessionBorderController to compile for. Without it: the only one in the input; with none
   * in the input, every object of `namespace` (default: the only namespace present, else `default`).
   */
  readonly controller?: { readonly namespace: string; readonly name: string }
  /** Namespace to compile when there is no SessionBorderController. */
  readonly namespace?: string
}

/** The result: the snapshot and a verdict for every object that was compiled. */
export interface CompileResult {
  readonly config: SbcConfig
  /** Sorted by kind (dependency order), then name. */
  readonly verdicts: readonly Verdict[]
}

const KIND_ORDER: readonly KindName[] = [
  Kinds.SessionBorderController,
  Kinds.MediaRealm,
  Kinds.SipInterface,
  Kinds.IPProfile,
  Kinds.IPGroup,
  Kinds.RoutingRule,
]

/** True for an object of our group and version. */
export function isSbcObject(o: KubeObject): boolean {
  return (
    o.apiVersion === API_VERSION &&
    typeof o.kind === 'string' &&
    (KIND_ORDER as readonly string[]).includes(o.kind)
  )
}

/** True for a core v1 Secret. */
export function isSecret(o: KubeObject): boolean {
  return o.apiVersion === 'v1' && o.kind === 'Secret'
}

function selects(selector: SessionBorderControllerSpec['selector'], o: KubeObject): boolean {
  if (selector === undefined) return true
  const labels = labelsOf(o)
  return Object.entries(selector.matchLabels).every(([k, v]) => labels[k] === v)
}

/**
 * Compiles custom resources into one `SbcConfig` snapshot plus a verdict per object. Pure and
 * deterministic: equal input gives a deep-equal result, whatever the input order. Objects of other
 * groups are ignored, Secrets are only checked for presence and keys. An object with an error is
 * left out of the config with the reason in its verdict; everything else still compiles.
 */
export function compile(objects: readonly KubeObject[], options: CompileOptions): CompileResult {
  const ours = objects.filter(isSbcObject)
  const controllers = ours.filter((o) => o.kind === Kinds.SessionBorderController)
  let controller: KubeObject | undefined
  if (options.controller !== undefined) {
    const { namespace, name } = options.controller
    controller = controllers.find((c) => namespaceOf(c) === namespace && nameOf(c) === name)
    if (controller === undefined) throw new ControllerNotFoundError(namespace, name)
  } else if (controllers.length > 0) {
    controller = [...controllers].sort((a, b) => (scopeKey(a) < scopeKey(b) ? -1 : 1))[0]
  }
  const namespaces = [...new Set(ours.map(namespaceOf))].sort()
  const namespace =
    controller !== undefined
      ? namespaceOf(controller)
      : (options.namespace ?? (namespaces.length === 1 ? namespaces[0]! : 'default'))

  const verdicts: VerdictBuilder[] = []
  const builderFor = (o: KubeObject) => {
    const gen = o.metadata?.generation
    const b = new VerdictBuilder(
      { kind: String(o.kind), namespace: namespaceOf(o), name: nameOf(o) },
      typeof gen === 'number' && Number.isInteger(gen) ? gen : undefined,
    )
    verdicts.push(b)
    return b
  }

  let controllerSpec: SessionBorderControllerSpec | undefined
  let controllerVerdict: VerdictBuilder | undefined
  if (controller !== undefined) {
    controllerVerdict = builderFor(controller)
    const r = validateSpec<SessionBorderControllerSpec>(Kinds.SessionBorderController, controller.spec ?? {})
    for (const i of r.issues)
      controllerVerdict.error(ConditionType.Accepted, ConditionReason.Invalid, i.field, i.message)
    if (r.issues.length === 0) controllerSpec = r.value
  }
  const members = ours.filter(
    (o) =>
      o.kind !== Kinds.SessionBorderController &&
      namespaceOf(o) === namespace &&
      (controller === undefined || controllerSpec === undefined || selects(controllerSpec.selector, o)),
  )

  const secrets = new Map<string, SecretInfo>()
  for (const s of objects.filter(isSecret))
    if (namespaceOf(s) === namespace) secrets.set(nameOf(s), secretInfo(s))
  const ctx = new CompileContext(namespace, secrets)

  const candidates = new Map<KindName, Candidate<unknown>[]>()
  for (const o of [...members].sort((a, b) => (scopeKey(a) < scopeKey(b) ? -1 : 1))) {
    const kind = o.kind as KindName
    const verdict = builderFor(o)
    ctx.markPresent(kind, nameOf(o))
    const r = validateSpec(kind, o.spec)
    for (const i of r.issues)
      verdict.error(ConditionType.Accepted, ConditionReason.Invalid, i.field, i.message)
    if (r.issues.length > 0) continue
    const list = candidates.get(kind) ?? []
    list.push({ object: o, name: nameOf(o), spec: r.value, verdict })
    candidates.set(kind, list)
  }
  const of = <S>(kind: KindName) => (candidates.get(kind) ?? []) as Candidate<S>[]

  const settings =
    controllerSpec !== undefined && controllerVerdict !== undefined
      ? (compileController(ctx, controllerSpec, controllerVerdict) ?? DEFAULT_CONTROLLER_SETTINGS)
      : DEFAULT_CONTROLLER_SETTINGS
  const realms = compileMediaRealms(ctx, of<MediaRealmSpec>(Kinds.MediaRealm), settings.nat)
  const interfaces = compileSipInterfaces(ctx, of<SipInterfaceSpec>(Kinds.SipInterface), settings.nat)
  const profiles = compileIPProfiles(ctx, of<IPProfileSpec>(Kinds.IPProfile))
  const groups = compileIPGroups(ctx, of<IPGroupSpec>(Kinds.IPGroup), interfaces, settings.nat)
  const routes = compileRoutingRules(ctx, of<RoutingRuleSpec>(Kinds.RoutingRule))

  const byName = <T extends { name: string }>(list: T[]) =>
    list.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  const config: SbcConfig = {
    schemaVersion: SBC_CONFIG_SCHEMA_VERSION,
    generation: options.generation,
    namespace,
    controller: controller === undefined ? null : nameOf(controller),
    redis: settings.redis,
    nat: settings.nat,
    security: settings.security,
    realms: byName(realms),
    interfaces: byName(interfaces),
    profiles: byName(profiles),
    groups: byName(groups),
    routes,
  }
  const included = new Set<string>([
    ...realms.map((r) => `MediaRealm/${r.name}`),
    ...interfaces.map((r) => `SipInterface/${r.name}`),
    ...profiles.map((r) => `IPProfile/${r.name}`),
    ...groups.map((r) => `IPGroup/${r.name}`),
    ...routes.map((r) => `RoutingRule/${r.name}`),
  ])
  const built = verdicts.map((b) =>
    b.build(
      b.ref.kind === Kinds.SessionBorderController
        ? !b.hasErrors()
        : included.has(`${b.ref.kind}/${b.ref.name}`) && b.ref.namespace === namespace,
    ),
  )
  built.sort(
    (a, b) =>
      KIND_ORDER.indexOf(a.kind as KindName) - KIND_ORDER.indexOf(b.kind as KindName) ||
      (a.namespace < b.namespace ? -1 : a.namespace > b.namespace ? 1 : 0) ||
      (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
  )
  return { config, verdicts: built }
}

function scopeKey(o: KubeObject): string {
  return `${String(o.kind)}/${namespaceOf(o)}/${nameOf(o)}`
}
