import { PortAllocator } from '../../lib/media/relay/port-allocator.ts'
import type { RealmRuntime } from '../../media-pod/src/ng-handler.ts'
import { portBase } from '../../test/harness/port-base.ts'

/**
 * The one realm 'lan' of an NG handler under test: `size` relay ports on 127.0.0.1 (see portBase),
 * no quarantine so a test sees freed ports at once, room for 50 sessions.
 */
export function loopbackRealm(
  size: number,
  advertisedAddress = '127.0.0.1',
): { allocator: PortAllocator; realms: Map<string, RealmRuntime> } {
  const base = portBase(size)
  const allocator = new PortAllocator({ min: base, max: base + size - 1 }, { quarantineMs: 0 })
  const realms = new Map<string, RealmRuntime>([
    ['lan', { name: 'lan', bindAddress: '127.0.0.1', advertisedAddress, allocator, maxSessions: 50 }],
  ])
  return { allocator, realms }
}
