import type { PortAllocator } from '../../lib/media/relay/port-allocator.ts'
import { MediaNgHandler, type NgHandlerOptions } from '../../media-pod/src/ng-handler.ts'
import { DgramRelayBackend } from '../../media-pod/src/relay/dgram-relay.ts'
import { NativeRelayBackend } from '../../media-pod/src/relay/native-backend.ts'
import { loopbackRealm } from './loopback-realm.ts'

export interface LoopbackNgHandler {
  allocator: PortAllocator
  handler: MediaNgHandler
  /** The native relay; null when it is not built, or with `backend: 'dgram'`. */
  native: NativeRelayBackend | null
  /** Closes the handler, then both relays. */
  close(): Promise<void>
}

/**
 * An NG handler under test, called in this process: the realm of loopbackRealm (`ports` ports,
 * `advertisedAddress`), the dgram relay as fallback and the native relay (one worker) unless
 * `backend` is 'dgram'; the other options go to the handler as they are.
 */
export function loopbackNgHandler(
  options: { ports: number; advertisedAddress?: string; backend?: 'native' | 'dgram' } & Omit<
    NgHandlerOptions,
    'realms' | 'defaultRealm' | 'native' | 'fallback'
  >,
): LoopbackNgHandler {
  const { ports, advertisedAddress, backend = 'native', ...handlerOptions } = options
  const { allocator, realms } = loopbackRealm(ports, advertisedAddress)
  const fallback = new DgramRelayBackend()
  const native = backend === 'native' ? NativeRelayBackend.create(1) : null
  const handler = new MediaNgHandler({ realms, defaultRealm: 'lan', native, fallback, ...handlerOptions })
  return {
    allocator,
    handler,
    native,
    close: async () => {
      handler.close()
      await native?.close()
      await fallback.close()
    },
  }
}
