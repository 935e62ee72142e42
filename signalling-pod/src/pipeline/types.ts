import type { SipRequest } from '../../../lib/sip/message/message.ts'

/** Transports a SIP message can arrive on or be sent over. */
export type Transport = 'UDP' | 'TCP' | 'TLS'

/** An out-of-dialog request as it reached the SBC, with where it came from. */
export interface InboundContext {
  request: SipRequest
  source: { transport: Transport; address: string; port: number }
  /** The SIP interface (config name) the request arrived on. */
  interfaceName: string
  /** Verified TLS peer certificate names (`peerCertificateNames()`, RFC 5922 §7.1), when mutual TLS was used. */
  peerCertificateNames?: string[]
}

/** One proxy of a target group, port defaulted (5060 UDP/TCP, 5061 TLS). */
export interface RouteProxy {
  address: string
  port: number
  transport: Transport
  /** Static: `address` is an IP literal to use as is; A/SRV: resolve through `Resolver` at call time. */
  resolution: 'Static' | 'A' | 'SRV'
  priority: number
  weight: number
  /** Set on an address resolved from an A/SRV proxy: the domain it was resolved from. */
  domain?: string
}

/** One destination IP group of a route, in failover order. */
export interface RouteTarget {
  group: string
  interfaceName: string
  /** Ordered by priority (lower first), then configuration order; weights are for the caller. */
  proxies: RouteProxy[]
}

/**
 * What to do with an out-of-dialog request. `sourceGroup` is null when the request was unclassified
 * and `security.unclassified` is Allow.
 */
export type Decision =
  | { type: 'drop'; reason: 'scanner' | 'unclassified' | 'rate-limited'; signature?: string }
  | {
      type: 'reply'
      code: number
      reason: string
      headers?: Record<string, string>
      sourceGroup: string | null
      rule?: string
      /** Set when a malicious signature with action Reject answered 403. */
      signature?: string
    }
  | {
      type: 'route'
      sourceGroup: string | null
      rule: string
      targets: RouteTarget[]
      failover: { onStatusCodes: number[]; onTimeout: boolean }
    }

/**
 * The outcome of one step: it decided (`done`), or it passes with a reason for logs and traces,
 * possibly carrying a value the next steps need (`pass`).
 */
export type StepResult<T = undefined> =
  | { kind: 'done'; decision: Decision; why: string }
  | { kind: 'pass'; value: T; why: string }

/** One line of a decision trace: which step ran and what it said. */
export interface TraceEntry {
  step: 'scanner' | 'classification' | 'routing'
  outcome: 'done' | 'pass'
  why: string
}
