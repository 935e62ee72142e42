import { request as httpsRequest, type RequestOptions } from 'node:https'
import type { KubeConfig, KubernetesListObject, KubernetesObject } from '@kubernetes/client-node'
import { KubeApiError, UnknownKindError } from './errors.ts'

/** Identifies a kind: `apiVersion` (`v1`, `apps/v1`, `sbc.example.com/v1alpha1`) and `kind`. */
export interface KindRef {
  readonly apiVersion: string
  readonly kind: string
}

/** Identifies one object. `namespace` is ignored for cluster-scoped kinds. */
export interface ObjectRef extends KindRef {
  readonly name: string
  readonly namespace?: string | undefined
}

/** What discovery says about a kind. */
export interface ResourceInfo {
  /** Plural resource name used in paths, e.g. `deployments`. */
  readonly plural: string
  readonly namespaced: boolean
}

/** One HTTP call. `body` is JSON-encoded unless it is a string. */
export interface KubeRequest {
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'
  readonly path: string
  readonly query?: Record<string, string | number | boolean | undefined>
  readonly body?: unknown
  readonly contentType?: string
}

/**
 * A thin JSON client over a `KubeConfig`, for what the generated client-node APIs do awkwardly:
 * server-side apply on subresources (`/status`), Leases with exact MicroTime strings, and generic
 * kinds resolved through discovery. Objects stay plain JSON (no Date conversion), so what a
 * reconciler compares is exactly what the server stores.
 */
export class KubeClient {
  readonly kubeConfig: KubeConfig
  readonly #discovery = new Map<string, Promise<Map<string, ResourceInfo>>>()

  constructor(kubeConfig: KubeConfig) {
    this.kubeConfig = kubeConfig
  }

  /** Performs `req` and parses the JSON answer; throws {@link KubeApiError} on a non-2xx status. */
  async request<T = unknown>(req: KubeRequest): Promise<T> {
    const cluster = this.kubeConfig.getCurrentCluster()
    if (!cluster) throw new KubeApiError(0, undefined, 'the kubeconfig has no current cluster')
    const url = new URL(cluster.server.replace(/\/$/, '') + req.path)
    for (const [k, v] of Object.entries(req.query ?? {}))
      if (v !== undefined) url.searchParams.set(k, String(v))
    const body =
      req.body === undefined ? undefined : typeof req.body === 'string' ? req.body : JSON.stringify(req.body)
    const headers: Record<string, string> = { accept: 'application/json' }
    if (body !== undefined) headers['content-type'] = req.contentType ?? 'application/json'
    const opts: RequestOptions = { method: req.method, headers }
    await this.kubeConfig.applyToHTTPSOptions(opts)
    const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const r = httpsRequest(url, opts, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
        )
        res.on('error', reject)
      })
      r.on('error', reject)
      r.end(body)
    })
    let parsed: unknown
    try {
      parsed = text ? JSON.parse(text) : undefined
    } catch {
      parsed = text
    }
    if (status < 200 || status >= 300) {
      const s = (typeof parsed === 'object' && parsed ? parsed : {}) as { reason?: string; message?: string }
      throw new KubeApiError(
        status,
        s.reason,
        `${req.method} ${req.path}: ${status} ${s.message ?? (typeof parsed === 'string' ? parsed : '')}`.trim(),
      )
    }
    return parsed as T
  }

  /** Plural name and scope of a kind, from API discovery (cached per apiVersion). */
  async resource(ref: KindRef): Promise<ResourceInfo> {
    const load = async (): Promise<Map<string, ResourceInfo>> => {
      const list = await this.request<{ resources: { name: string; kind: string; namespaced: boolean }[] }>({
        method: 'GET',
        path: apiVersionPath(ref.apiVersion),
      })
      const map = new Map<string, ResourceInfo>()
      for (const r of list.resources) {
        if (!r.name.includes('/')) map.set(r.kind, { plural: r.name, namespaced: r.namespaced })
      }
      return map
    }
    // A group/version the server does not serve (404) resolves no kinds; other errors (401, 403,
    // network) propagate, so a credential problem is not reported as an unknown kind.
    const lookup = async (p: Promise<Map<string, ResourceInfo>>) => {
      try {
        return (await p).get(ref.kind)
      } catch (err) {
        this.#discovery.delete(ref.apiVersion)
        if (err instanceof KubeApiError && err.statusCode === 404) return undefined
        throw err
      }
    }
    let cached = this.#discovery.get(ref.apiVersion)
    if (!cached) {
      cached = load()
      this.#discovery.set(ref.apiVersion, cached)
    }
    let info = await lookup(cached)
    if (!info) {
      // A CRD installed after the first lookup: refresh once before giving up.
      const fresh = load()
      this.#discovery.set(ref.apiVersion, fresh)
      info = await lookup(fresh)
    }
    if (!info) throw new UnknownKindError(ref.apiVersion, ref.kind)
    return info
  }

  /**
   * The URL path of a collection (no `name`) or of one object, optionally a subresource. For a
   * namespaced kind without `namespace` the path spans all namespaces.
   */
  async path(
    ref: KindRef & { name?: string; namespace?: string | undefined },
    subresource?: string,
  ): Promise<string> {
    const info = await this.resource(ref)
    let p = apiVersionPath(ref.apiVersion)
    if (info.namespaced && ref.namespace) p += `/namespaces/${encodeURIComponent(ref.namespace)}`
    p += `/${info.plural}`
    if (ref.name !== undefined) p += `/${encodeURIComponent(ref.name)}`
    if (subresource) p += `/${subresource}`
    return p
  }

  /** Reads one object; `undefined` when it does not exist. */
  async get<T extends object = KubernetesObject>(ref: ObjectRef): Promise<T | undefined> {
    try {
      return await this.request<T>({ method: 'GET', path: await this.path(ref) })
    } catch (err) {
      if (err instanceof KubeApiError && err.statusCode === 404) return undefined
      throw err
    }
  }

  /** Lists a kind, in one namespace or (without `namespace`) in all. */
  async list<T extends KubernetesObject = KubernetesObject>(
    ref: KindRef & { namespace?: string | undefined },
    options: { labelSelector?: string; fieldSelector?: string } = {},
  ): Promise<KubernetesListObject<T>> {
    const list = await this.request<KubernetesListObject<T>>({
      method: 'GET',
      path: await this.path(ref),
      query: { labelSelector: options.labelSelector, fieldSelector: options.fieldSelector },
    })
    // List items carry no apiVersion/kind; restore them so items look like watched objects.
    for (const item of list.items) {
      item.apiVersion ??= ref.apiVersion
      item.kind ??= ref.kind
    }
    return list
  }

  /** Creates an object; returns what the server stored. */
  async create<T extends KubernetesObject>(obj: T): Promise<T & KubernetesObject> {
    const ref = refOf(obj)
    return this.request<T>({ method: 'POST', path: await this.path({ ...ref, name: undefined }), body: obj })
  }

  /** Replaces an object (optimistic concurrency through `metadata.resourceVersion`). */
  async replace<T extends KubernetesObject>(obj: T): Promise<T> {
    return this.request<T>({ method: 'PUT', path: await this.path(refOf(obj)), body: obj })
  }

  /** Deletes an object; `false` when it was already gone. */
  async delete(ref: ObjectRef, options: { propagationPolicy?: 'Foreground' | 'Background' | 'Orphan' } = {}) {
    try {
      await this.request({
        method: 'DELETE',
        path: await this.path(ref),
        body: options.propagationPolicy ? { propagationPolicy: options.propagationPolicy } : undefined,
      })
      return true
    } catch (err) {
      if (err instanceof KubeApiError && err.statusCode === 404) return false
      throw err
    }
  }
}

/** `/api/v1` for the core group, `/apis/<group>/<version>` otherwise. */
export function apiVersionPath(apiVersion: string): string {
  return apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`
}

/** The {@link ObjectRef} of an object; throws if kind, apiVersion or name is missing. */
export function refOf(obj: KubernetesObject): ObjectRef {
  const name = obj.metadata?.name
  if (!obj.apiVersion || !obj.kind || !name) {
    throw new KubeApiError(0, 'Invalid', 'object needs apiVersion, kind and metadata.name')
  }
  return { apiVersion: obj.apiVersion, kind: obj.kind, name, namespace: obj.metadata?.namespace }
}
