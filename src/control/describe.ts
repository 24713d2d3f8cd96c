/**
 * The control API as a JSON document, generated from the catalogue: per method its kind,
 * description, params and result (JSON Schema 2020-12, from zod) and the errors it raises on
 * purpose; per error class its parent and fields. `npm run gen:api` writes it to
 * docs/control-api.json and a test fails when the checked-in file differs from the code.
 *
 * A result declared with `typed<T>()` (a feature's TypeScript type, e.g. VpnStatus) has no schema
 * of its own here: its entry is `{"description": ..., "x-typescript": true}`.
 */
import { z } from 'zod'
import { controlApi } from './catalogue/index.js'
import { errorCatalogue, type ErrorEntry } from './catalogue/errors.js'
import { CALL_PATH, TOKEN_HEADER } from './protocol.js'
import type { Catalogue } from './spec.js'

type Json = Record<string, unknown>

function schema (s: z.ZodType, io: 'input' | 'output'): Json {
  const { $schema: _drop, ...rest } = z.toJSONSchema(s, { io, unrepresentable: 'any', target: 'draft-2020-12' }) as Json
  return rest
}

function parentOf (entry: ErrorEntry, errors: ReadonlyMap<string, ErrorEntry>): string | null {
  let best: ErrorEntry | undefined
  for (const other of errors.values()) {
    // the nearest listed ancestor: the one that is itself a subclass of every other candidate
    if (other !== entry && entry.cls.prototype instanceof other.cls && (best == null || other.cls.prototype instanceof best.cls)) best = other
  }
  return best?.cls.name ?? null
}

export function describeControlApi (api: Catalogue = controlApi, errors: ReadonlyMap<string, ErrorEntry> = errorCatalogue): Json {
  const methods: Json = {}
  for (const name of Object.keys(api).sort()) {
    const m = api[name]!
    methods[name] = {
      kind: m.kind,
      description: m.description,
      params: schema(m.params, 'input'),
      [m.kind === 'stream' ? 'item' : 'result']: schema(m.result, 'output'),
      errors: m.errors.map(e => e.name)
    }
  }
  const errorList: Json = {}
  for (const [name, entry] of [...errors].sort(([a], [b]) => a.localeCompare(b))) {
    errorList[name] = { extends: parentOf(entry, errors), ...(entry.fields != null ? { fields: schema(entry.fields, 'output') } : {}) }
  }
  return {
    title: 'dmsnet control API',
    about: 'Generated from src/control/catalogue by `npm run gen:api`; do not edit. See docs/control.md.',
    transport: {
      socket: 'HTTP/1.1 on the unix socket control.socket (0600), token file next to it',
      request: `POST ${CALL_PATH} {"method": <name>, "params": <params>} with header ${TOKEN_HEADER}: <token>`,
      unary: '200 {"result": <result>}',
      stream: '200 application/x-ndjson: {"data": <item>} per item, then {"end": true}; a late failure is a last line {"error": ...}',
      error: '4xx/5xx {"error": {"name", "message", "fields"?}}: name is a class under errors, fields as declared there',
      alwaysPossible: ['InvalidArgumentError (params)', 'MethodNotFoundError', 'UnauthorizedError', 'ControlProtocolError', 'RequestTooLargeError', 'RequestTimeoutError', 'AbortedError']
    },
    methods,
    errors: errorList
  }
}

/** The file's text: stable key order, two-space indent, final newline. */
export function controlApiText (): string {
  return JSON.stringify(describeControlApi(), null, 2) + '\n'
}
