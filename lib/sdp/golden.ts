import assert from 'node:assert/strict'

/**
 * Placeholders allowed in golden `*.out.sdp` files, in the manner of rtpengine's `t/auto-daemon-tests`:
 * values the code under test picks at run time (ports, keys, ICE credentials) are written as a
 * placeholder and match any value of their shape.
 */
export const SDP_PLACEHOLDERS: Readonly<Record<string, string>> = {
  PORT: '\\d{1,5}',
  KEY: '[A-Za-z0-9+/]{8,}={0,2}',
  INT: '\\d+',
  ADDR: '[0-9A-Fa-f.:]+',
  TOKEN: '\\S+',
}

const PLACEHOLDER = new RegExp(`\\b(${Object.keys(SDP_PLACEHOLDERS).join('|')})\\b`, 'g')

function lineRegex(template: string): RegExp {
  let src = ''
  let last = 0
  for (const m of template.matchAll(PLACEHOLDER)) {
    src += escapeRegExp(template.slice(last, m.index)) + (SDP_PLACEHOLDERS[m[1] ?? ''] ?? '')
    last = (m.index ?? 0) + m[0].length
  }
  return new RegExp(`^${src}${escapeRegExp(template.slice(last))}$`)
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

/**
 * Asserts that an SDP body matches a golden template line by line (CRLF or LF in the template), with
 * {@link SDP_PLACEHOLDERS} standing for run-time values. On mismatch the assertion shows the first
 * differing line.
 */
export function assertSdpMatches(actual: string, template: string): void {
  const a = actual.split(/\r?\n/)
  const t = template.split(/\r?\n/)
  for (let i = 0; i < Math.max(a.length, t.length); i++) {
    const al = a[i]
    const tl = t[i]
    if (al === undefined || tl === undefined || !lineRegex(tl).test(al)) {
      assert.equal(
        al,
        tl,
        `SDP line ${i + 1} differs\n--- actual ---\n${actual}\n--- template ---\n${template}`,
      )
    }
  }
  assert.ok(actual.endsWith('\r\n'), 'SDP must end with CRLF')
}
