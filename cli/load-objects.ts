import { readdirSync, readFileSync, statSync } from 'node:fs'
import { extname, join } from 'node:path'
import { LineCounter, parseAllDocuments } from 'yaml'
import type { KubeObject } from '../lib/config/compile/objects.ts'
import { InputError } from './errors.ts'

/** An object read from a file, with where it starts. */
export interface LoadedObject {
  readonly object: KubeObject
  readonly file: string
  readonly line: number
}

/** A problem found while reading, located by file and line. */
export interface LoadProblem {
  readonly file: string
  readonly line: number
  readonly column: number
  readonly message: string
}

/** Lists `*.yaml`/`*.yml` files under the paths (files as given, folders recursively, sorted). */
export function listYamlFiles(paths: readonly string[]): string[] {
  const out: string[] = []
  const walk = (p: string, explicit: boolean) => {
    let st: ReturnType<typeof statSync>
    try {
      st = statSync(p)
    } catch {
      throw new InputError(`${p}: no such file or directory`)
    }
    if (st.isDirectory()) {
      for (const e of readdirSync(p).sort()) walk(join(p, e), false)
    } else if (explicit || ['.yaml', '.yml'].includes(extname(p))) {
      out.push(p)
    }
  }
  for (const p of paths) walk(p, true)
  return out
}

/** A file the user named, as text; an unreadable one is an InputError naming it (exit 1). */
export function readInputFile(file: string): string {
  try {
    return readFileSync(file, 'utf8')
  } catch (e) {
    throw new InputError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? 'error'})`)
  }
}

/** Reads every YAML document of every file; syntax errors come back as problems with file and line. */
export function loadObjects(files: readonly string[]): { objects: LoadedObject[]; problems: LoadProblem[] } {
  const objects: LoadedObject[] = []
  const problems: LoadProblem[] = []
  for (const file of files) {
    const text = readInputFile(file)
    const lc = new LineCounter()
    const docs = parseAllDocuments(text, { lineCounter: lc, prettyErrors: false })
    const list = Array.isArray(docs) ? docs : [docs]
    for (const doc of list) {
      const start = lc.linePos(doc.range[0])
      if (doc.errors.length > 0) {
        for (const err of doc.errors) {
          const pos = lc.linePos(err.pos[0])
          problems.push({
            file,
            line: pos.line,
            column: pos.col,
            message: err.message.split('\n')[0] ?? err.code,
          })
        }
        continue
      }
      const value: unknown = doc.toJS({ maxAliasCount: 100 })
      if (value === null || value === undefined) continue
      if (typeof value !== 'object' || Array.isArray(value)) {
        problems.push({
          file,
          line: start.line,
          column: start.col,
          message: 'document is not a Kubernetes object (a mapping)',
        })
        continue
      }
      objects.push({ object: value as KubeObject, file, line: start.line })
    }
  }
  return { objects, problems }
}
