import { type Static, Type } from '@sinclair/typebox'
import { cel, IPAddress, withCel } from '../schema-helpers.ts'
import { CommonStatus } from './conditions.ts'
import { NetworkField } from './network.ts'

/** An inclusive UDP port range for relayed media. */
export const PortRange = withCel(
  Type.Object(
    {
      min: Type.Integer({
        minimum: 1024,
        maximum: 65535,
        description: 'First UDP port of the range (inclusive).',
      }),
      max: Type.Integer({
        minimum: 1024,
        maximum: 65535,
        description: 'Last UDP port of the range (inclusive).',
      }),
    },
    {
      additionalProperties: false,
      description: 'Inclusive UDP port range the media pods allocate RTP/RTCP ports from.',
    },
  ),
  [
    cel<{ min: number; max: number }>(
      'self.min <= self.max',
      'min must not exceed max',
      (s) => s.min <= s.max,
    ),
  ],
)
export type PortRange = Static<typeof PortRange>

/** MediaRealm: where media of a group of calls is relayed (the seed's Media Realm). */
export const MediaRealmSpec = Type.Object(
  {
    network: NetworkField('Network the media pods relay this realm on: LAN or WAN.'),
    bindAddress: Type.Optional(
      IPAddress(
        'Host address the media pods bind RTP sockets to. Omit to bind all addresses of the node; realms that omit it are treated as sharing one address for overlap checks.',
      ),
    ),
    portRange: PortRange,
    advertisedAddress: Type.Optional(
      IPAddress(
        'Address written into SDP (c= line) for this realm. Defaults to the SessionBorderController NAT public address on its NAT network, else the bind address.',
      ),
    ),
    maxSessions: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 1000000,
        default: 100,
        description: 'Upper bound of concurrent relay sessions in this realm, across all media pods.',
      }),
    ),
  },
  { additionalProperties: false, description: 'Desired state of a MediaRealm.' },
)
export type MediaRealmSpec = Static<typeof MediaRealmSpec>

/** Observed state of a MediaRealm. */
export const MediaRealmStatus = CommonStatus
export type MediaRealmStatus = Static<typeof MediaRealmStatus>
