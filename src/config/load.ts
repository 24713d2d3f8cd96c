/**
 * Loads the node configuration from its three sources, lowest precedence first:
 * a file (JSON or YAML, by extension) < environment variables (`DMSNET_<SECTION>_<KEY>`) < flags
 * (an object of dotted keys from the CLI). The merged result is validated once by the schema, so
 * every offending key, wherever it came from, is reported in one `ConfigError`.
 */
import { readFileSync } from 'node:fs'
import { extname } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { ConfigError, type ConfigIssue } from '../errors.js'
import { configSchema, rawConfigSchema, type Config } from './schema.js'
import type { z } from 'zod'

export interface LoadConfigOptions {
  /** Path of a `.json`, `.yaml` or `.yml` file. */
  file?: string
  /** Environment to read `DMSNET_*` variables from (pass `process.env` explicitly). */
  env?: Record<string, string | undefined>
  /** Dotted keys, e.g. `{ 'network.listen': ['/ip4/127.0.0.1/tcp/0'] }`; strings are coerced. */
  flags?: Record<string, unknown>
  /** Profile used when none of the sources sets one. */
  profile?: 'server' | 'lan'
  /** Lowest layer, below the file (the demo uses it for embedded defaults). */
  base?: Record<string, unknown>
}

type Leaf = 'number' | 'boolean' | 'array' | 'string'

/** Leaf paths of the schema with their kind, used to coerce env/flag strings and map env names. */
function leafKinds (): Map<string, Leaf> {
  const out = new Map<string, Leaf>()
  const walk = (schema: z.ZodType, path: string[]): void => {
    let s: z.ZodType = schema
    // unwrap default/prefault/optional/pipe wrappers down to the core type
    for (;;) {
      const def = (s as unknown as { _zod: { def: { type: string, innerType?: z.ZodType, in?: z.ZodType } } })._zod.def
      if (def.innerType != null) { s = def.innerType; continue }
      if (def.type === 'pipe' && def.in != null) { s = def.in; continue }
      break
    }
    const def = (s as unknown as { _zod: { def: { type: string, shape?: Record<string, z.ZodType> } } })._zod.def
    if (def.type === 'object' && def.shape != null) {
      for (const [k, v] of Object.entries(def.shape)) walk(v, [...path, k])
      return
    }
    const kind: Leaf = def.type === 'number' ? 'number' : def.type === 'boolean' ? 'boolean' : def.type === 'array' ? 'array' : 'string'
    out.set(path.join('.'), kind)
  }
  walk(rawConfigSchema(), [])
  return out
}

let cachedLeaves: Map<string, Leaf> | undefined
function leaves (): Map<string, Leaf> {
  cachedLeaves ??= leafKinds()
  return cachedLeaves
}

const snake = (s: string): string => s.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()

/** `network.connectionManager.maxConnections` -> `DMSNET_NETWORK_CONNECTION_MANAGER_MAX_CONNECTIONS`. */
export function envName (key: string): string {
  return 'DMSNET_' + key.split('.').map(snake).join('_')
}

/** Both spellings (`..._CONNECTION_MANAGER_MAX_CONNECTIONS` and `..._CONNECTIONMANAGER_MAXCONNECTIONS`) map to the key. */
function envTable (): Map<string, string> {
  const t = new Map<string, string>()
  for (const key of leaves().keys()) {
    t.set(envName(key), key)
    t.set('DMSNET_' + key.split('.').map(s => s.toUpperCase()).join('_'), key)
  }
  t.set('DMSNET_LOG_LEVEL', 'logging.level')
  return t
}

/** Turns a string from env or the command line into the leaf's type; leaves it as is if it does not fit, so the schema reports it. */
export function coerce (key: string, value: unknown): unknown {
  const kind = leaves().get(key)
  if (typeof value !== 'string' || kind == null) {
    if (kind === 'array' && typeof value === 'string') return splitList(value)
    return value
  }
  switch (kind) {
    case 'number': {
      const t = value.trim()
      return t !== '' && /^-?\d+(\.\d+)?$/.test(t) ? Number(t) : value
    }
    case 'boolean': {
      const t = value.trim().toLowerCase()
      if (['true', '1', 'yes', 'on'].includes(t)) return true
      if (['false', '0', 'no', 'off'].includes(t)) return false
      return value
    }
    case 'array': return splitList(value)
    default: return value
  }
}

function splitList (s: string): string[] {
  return s.split(',').map(x => x.trim()).filter(x => x !== '')
}

function setPath (obj: Record<string, unknown>, key: string, value: unknown): void {
  const parts = key.split('.')
  let cur = obj
  for (const p of parts.slice(0, -1)) {
    const next = cur[p]
    if (next == null || typeof next !== 'object' || Array.isArray(next)) cur[p] = {}
    cur = cur[p] as Record<string, unknown>
  }
  cur[parts[parts.length - 1]!] = value
}

function getPath (obj: unknown, path: ReadonlyArray<PropertyKey>): unknown {
  let cur = obj
  for (const p of path) {
    if (cur == null || typeof cur !== 'object') return undefined
    cur = (cur as Record<PropertyKey, unknown>)[p]
  }
  return cur
}

function isPlainObject (v: unknown): v is Record<string, unknown> {
  return v != null && typeof v === 'object' && !Array.isArray(v)
}

/** Deep merge where `b` wins; arrays are replaced, not concatenated. */
function merge (a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a }
  for (const [k, v] of Object.entries(b)) {
    out[k] = isPlainObject(v) && isPlainObject(out[k]) ? merge(out[k], v) : v
  }
  return out
}

function readConfigFile (file: string): Record<string, unknown> {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`, [{ key: '(file)', value: file, expected: 'a readable JSON or YAML file' }], { cause: err })
  }
  const ext = extname(file).toLowerCase()
  let data: unknown
  try {
    if (ext === '.json') data = JSON.parse(text)
    else if (ext === '.yaml' || ext === '.yml') data = parseYaml(text)
    else throw new Error(`unknown extension "${ext}"`)
  } catch (err) {
    throw new ConfigError(`cannot parse config file ${file}: ${(err as Error).message}`, [{ key: '(file)', value: file, expected: 'valid JSON (.json) or YAML (.yaml/.yml)' }], { cause: err })
  }
  if (data == null) return {}
  if (!isPlainObject(data)) {
    throw new ConfigError(`config file ${file} must hold an object at the top level`, [{ key: '(file)', value: data, expected: 'an object of config sections' }])
  }
  return data
}

function fromEnv (env: Record<string, string | undefined>, issues: ConfigIssue[]): Record<string, unknown> {
  const table = envTable()
  const sections = new Set([...leaves().keys()].map(k => snake(k.split('.')[0]!)))
  const out: Record<string, unknown> = {}
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith('DMSNET_') || value == null) continue
    const key = table.get(name)
    if (key == null) {
      // Only complain about variables that look like ours (a known section); others may belong to tools.
      const first = name.slice('DMSNET_'.length).split('_')[0] ?? ''
      if (sections.has(first) && name !== 'DMSNET_LOG_LEVEL') {
        issues.push({ key: name, value, expected: 'a known setting (see docs/config.md for the DMSNET_* names)' })
      }
      continue
    }
    // an empty variable means "not set", except for a list, where it means "empty list"
    if (value.trim() === '' && leaves().get(key) !== 'array') continue
    setPath(out, key, coerce(key, value))
  }
  return out
}

function fromFlags (flags: Record<string, unknown>, issues: ConfigIssue[]): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(flags)) {
    if (value === undefined) continue
    if (!leaves().has(key)) {
      issues.push({ key, value, expected: 'a known setting (dotted key such as network.listen)' })
      continue
    }
    setPath(out, key, coerce(key, value))
  }
  return out
}

function show (v: unknown): string {
  if (v === undefined) return 'nothing'
  try {
    return JSON.stringify(v) ?? String(v)
  } catch {
    return String(v)
  }
}

/** One line per issue: `key: got "value", expected ...`. */
export function formatIssues (issues: ConfigIssue[]): string {
  return issues.map(i => `${i.key}: got ${show(i.value)}, expected ${i.expected}`).join('\n')
}

/** Validates an already merged object (nested sections); throws ConfigError listing every bad key. */
export function parseConfig (input: unknown, extraIssues: ConfigIssue[] = []): Config {
  const res = configSchema().safeParse(input)
  const issues = [...extraIssues]
  if (!res.success) {
    for (const iss of res.error.issues) {
      if (iss.code === 'unrecognized_keys') {
        for (const k of iss.keys) {
          const path = [...iss.path, k]
          issues.push({ key: path.join('.'), value: getPath(input, path), expected: 'no such setting (unknown key; check spelling)' })
        }
        continue
      }
      issues.push({ key: iss.path.join('.') || '(root)', value: getPath(input, iss.path), expected: iss.message })
    }
  }
  if (issues.length > 0) {
    throw new ConfigError(`invalid configuration:\n${formatIssues(issues)}`, issues)
  }
  return (res as { data: Config }).data
}

/** Reads, merges (file < env < flags) and validates the configuration. */
export function loadConfig (options: LoadConfigOptions = {}): Config {
  const issues: ConfigIssue[] = []
  let merged: Record<string, unknown> = options.profile != null ? { profile: options.profile } : {}
  if (options.base != null) merged = merge(merged, options.base)
  if (options.file != null) merged = merge(merged, readConfigFile(options.file))
  if (options.env != null) merged = merge(merged, fromEnv(options.env, issues))
  if (options.flags != null) merged = merge(merged, fromFlags(options.flags, issues))
  return parseConfig(merged, issues)
}

/** The configuration with nothing set: every default. */
export function defaultConfig (overrides: Record<string, unknown> = {}): Config {
  return parseConfig(overrides)
}

/** Every setting with its env variable name, for docs and `--help`. */
export function configKeys (): Array<{ key: string, env: string, kind: Leaf }> {
  return [...leaves()].map(([key, kind]) => ({ key, env: envName(key), kind }))
}

/** A ConfigError (or anything else) as the text the CLI prints before exiting. */
export function renderConfigError (err: unknown): string {
  if (err instanceof ConfigError && err.issues.length > 0) {
    return `dmsnet: invalid configuration (${err.issues.length} problem${err.issues.length === 1 ? '' : 's'}):\n` +
      err.issues.map(i => `  - ${i.key}: got ${show(i.value)}, expected ${i.expected}`).join('\n')
  }
  return `dmsnet: ${(err as Error)?.message ?? String(err)}`
}
