/** Test fixture builders for the pipeline: the uclab config and requests. */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { listYamlFiles, loadObjects } from '../../../cli/load-objects.ts'
import { compile } from '../../../lib/config/compile/compile.ts'
import type { SbcConfig } from '../../../lib/config/model.ts'
import type { SipRequest } from '../../../lib/sip/message/message.ts'
import { parse } from '../../../lib/sip/message/parse.ts'
import type { DialogStore } from '../../../lib/state/dialog-store.ts'
import { admit, releaseAdmission } from './admission.ts'
import type { CompiledPipeline } from './compiled.ts'
import type { InboundContext, Transport } from './types.ts'

const UCLAB = join(import.meta.dirname, '../../../examples/uclab')

/** The uclab example compiled (generation 1); `mod` may edit a deep copy. */
export function uclabConfig(mod?: (c: SbcConfig) => void): SbcConfig {
  cached ??= compileUclab()
  const copy = structuredClone(cached)
  mod?.(copy)
  return copy
}

let cached: SbcConfig | undefined

function compileUclab(): SbcConfig {
  const { objects, problems } = loadObjects(listYamlFiles([UCLAB]))
  if (problems.length > 0) throw new Error(`uclab: ${problems.map((p) => p.message).join('; ')}`)
  const { config } = compile(
    objects.map((o) => o.object),
    { generation: 1 },
  )
  return config
}

/** Options of {@link request}. */
export interface RequestSpec {
  uri?: string
  from?: string
  to?: string
  userAgent?: string
  contact?: string
  maxForwards?: number | null
  headers?: Record<string, string>
}

/** A parsed out-of-dialog request. */
export function request(method: string, spec: RequestSpec = {}): SipRequest {
  const uri = spec.uri ?? 'sip:+15551230000@sbc1.uclab.dev'
  const lines = [
    `${method} ${uri} SIP/2.0`,
    'Via: SIP/2.0/TLS 192.0.2.10:5062;branch=z9hG4bK-test',
    `From: ${spec.from ?? '<sip:+15559870000@peer.example>'};tag=abc`,
    `To: ${spec.to ?? `<${uri}>`}`,
    'Call-ID: call-1@test',
    `CSeq: 1 ${method}`,
  ]
  if (spec.maxForwards !== null) lines.push(`Max-Forwards: ${spec.maxForwards ?? 70}`)
  if (spec.contact !== undefined) lines.push(`Contact: ${spec.contact}`)
  if (spec.userAgent !== undefined) lines.push(`User-Agent: ${spec.userAgent}`)
  for (const [k, v] of Object.entries(spec.headers ?? {})) lines.push(`${k}: ${v}`)
  lines.push('Content-Length: 0', '', '')
  return parse(Buffer.from(lines.join('\r\n'))) as SipRequest
}

/** An inbound context; defaults: TLS from 192.0.2.10:40000 on si-webex. */
export function inbound(
  req: SipRequest,
  from: {
    transport?: Transport
    address?: string
    port?: number
    interfaceName?: string
    certs?: string[]
  } = {},
): InboundContext {
  const ctx: InboundContext = {
    request: req,
    source: {
      transport: from.transport ?? 'TLS',
      address: from.address ?? '192.0.2.10',
      port: from.port ?? 40000,
    },
    interfaceName: from.interfaceName ?? 'si-webex',
  }
  if (from.certs !== undefined) ctx.peerCertificateNames = from.certs
  return ctx
}

/** Runs the 250-limit scenario against any store; shared with the Redis integration test. */
export async function fillWebex(store: DialogStore, p: CompiledPipeline): Promise<void> {
  for (let i = 1; i <= 250; i++) {
    const r = await admit(store, p, 'webex', `call-${i}`, { timeoutMs: 5000 })
    assert.deepEqual(r, { ok: true, held: true }, `call ${i}`)
  }
  const over = await admit(store, p, 'webex', 'call-251', { timeoutMs: 5000 })
  assert.equal(over.ok, false)
  if (!over.ok) {
    assert.equal(over.code, 503)
    assert.equal(over.cause, 'max-concurrent-calls')
    assert.ok(over.retryAfterSeconds > 0)
  }
  await releaseAdmission(store, 'webex', 'call-7')
  assert.deepEqual(await admit(store, p, 'webex', 'call-251', { timeoutMs: 5000 }), { ok: true, held: true })
}
