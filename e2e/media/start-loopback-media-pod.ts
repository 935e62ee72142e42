import { nullLogger } from '../../lib/observability/logger.ts'
import { createMetricsRegistry } from '../../lib/observability/metrics-registry.ts'
import { MemoryStore } from '../../lib/state/memory-store.ts'
import { MediaPod, type MediaPodOptions } from '../../media-pod/src/media-pod.ts'
import { freePort } from '../../test/harness/free-port.ts'

/**
 * A media pod in this process on 127.0.0.1: NG and HTTP on free ports, no quarantine (a test sees
 * freed ports at once), an in-memory store, no logs, its own metrics registry; `options` override.
 */
export async function startLoopbackMediaPod(
  options: Pick<MediaPodOptions, 'config' | 'podId'> & Partial<MediaPodOptions>,
): Promise<MediaPod> {
  return MediaPod.start({
    store: new MemoryStore(),
    logger: nullLogger,
    registry: createMetricsRegistry({ component: 'media' }),
    nodeAddress: '127.0.0.1',
    ngHost: '127.0.0.1',
    ngPort: await freePort(),
    httpPort: await freePort(),
    quarantineMs: 0,
    ...options,
  })
}
