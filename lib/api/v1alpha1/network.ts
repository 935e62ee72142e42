import { StringEnum } from '../schema-helpers.ts'

/** The networks a SIP interface or media realm attaches to (the seed's LAN and WAN interfaces). */
export const Networks = ['LAN', 'WAN'] as const
export type Network = (typeof Networks)[number]

/** Schema of a network field. */
export function NetworkField(description: string) {
  return StringEnum(Networks, { description })
}
