import type { GroupConfig, InterfaceConfig, ProfileConfig, SbcConfig } from '../../../lib/config/model.ts'
import { ipKey } from './address.ts'
import {
  addProxySource,
  type ClassificationTable,
  compileClassification,
  removeLearnedSources,
} from './classify.ts'
import { PipelineConfigError } from './errors.ts'
import { type CompiledManipulation, compileManipulations } from './manipulate.ts'
import { type CompiledRoute, compileRoutes } from './route.ts'
import { type CompiledSignature, compileSignatures } from './scanner.ts'

/** A group with everything the steps need about it. */
export interface CompiledGroup {
  config: GroupConfig
  iface: InterfaceConfig
  profile: ProfileConfig
  manipulations: CompiledManipulation[]
}

/**
 * The pipeline of one config generation: regexes, CIDRs, header names and manipulation values are
 * compiled and checked once in {@link CompiledPipeline.from}, which throws `PipelineConfigError`
 * listing every problem (the pod keeps its previous pipeline). Immutable except for proxy addresses
 * learned from DNS ({@link CompiledPipeline.learnProxyAddresses}, {@link CompiledPipeline.setProxyAddresses}).
 */
export class CompiledPipeline {
  readonly config: SbcConfig
  readonly generation: number
  readonly signatures: readonly CompiledSignature[]
  readonly classification: ClassificationTable
  readonly routes: readonly CompiledRoute[]
  readonly groups: ReadonlyMap<string, CompiledGroup>
  readonly interfaces: ReadonlyMap<string, InterfaceConfig>

  private constructor(config: SbcConfig, problems: string[]) {
    this.config = config
    this.generation = config.generation
    this.interfaces = new Map(config.interfaces.map((i) => [i.name, i]))
    const profiles = new Map(config.profiles.map((p) => [p.name, p]))
    const groupConfigs = new Map(config.groups.map((g) => [g.name, g]))
    const groups = new Map<string, CompiledGroup>()
    for (const g of config.groups) {
      const iface = this.interfaces.get(g.sipInterface)
      const profile = profiles.get(g.profile)
      if (iface === undefined || profile === undefined) {
        problems.push(`IPGroup ${g.name}: interface or profile missing from the snapshot`)
        continue
      }
      groups.set(g.name, {
        config: g,
        iface,
        profile,
        manipulations: compileManipulations(g, iface, config.nat, problems),
      })
    }
    this.groups = groups
    this.signatures = compileSignatures(config.security.maliciousSignatures, problems)
    this.classification = compileClassification(config.groups, config.security.unclassified, problems)
    this.routes = compileRoutes(config.routes, groupConfigs, this.interfaces, problems)
  }

  /** Compiles `config`; throws `PipelineConfigError` with every problem found. */
  static from(config: SbcConfig): CompiledPipeline {
    const problems: string[] = []
    let p: CompiledPipeline
    try {
      p = new CompiledPipeline(config, problems)
    } catch (e) {
      throw new PipelineConfigError([...problems, e instanceof Error ? e.message : String(e)])
    }
    if (problems.length > 0) throw new PipelineConfigError(problems)
    return p
  }

  /** The compiled group, or throws when the name is unknown (a caller bug). */
  group(name: string): CompiledGroup {
    const g = this.groups.get(name)
    if (g === undefined)
      throw new RangeError(`IP group ${name} is not in config generation ${this.generation}`)
    return g
  }

  /**
   * Adds addresses an A/SRV proxy of `group` resolved to, so classification by proxy set recognises
   * traffic from them (addresses are only added; a new generation starts afresh).
   */
  learnProxyAddresses(
    group: string,
    addresses: readonly { address: string; port: number | null; transport: 'UDP' | 'TCP' | 'TLS' }[],
  ): void {
    const g = this.group(group)
    if (!g.config.classification.fromProxySet) return
    for (const a of addresses) {
      const key = ipKey(a.address)
      if (key === undefined) continue
      addProxySource(this.classification.proxies, key, {
        group,
        interfaceName: g.config.sipInterface,
        port: a.port,
        transport: a.transport,
      })
    }
  }

  /**
   * Replaces the addresses the background resolution of one A/SRV proxy of `group` found
   * (`proxy`: its `proxyKey()`) with `addresses`, for classification by proxy set.
   */
  setProxyAddresses(
    group: string,
    proxy: string,
    addresses: readonly { address: string; port: number | null; transport: 'UDP' | 'TCP' | 'TLS' }[],
  ): void {
    const g = this.group(group)
    if (!g.config.classification.fromProxySet) return
    removeLearnedSources(this.classification.proxies, proxy)
    for (const a of addresses) {
      const key = ipKey(a.address)
      if (key === undefined) continue
      addProxySource(this.classification.proxies, key, {
        group,
        interfaceName: g.config.sipInterface,
        port: a.port,
        transport: a.transport,
        learnedFrom: proxy,
      })
    }
  }
}
