/**
 * How a control method is declared: once, as a value (`unary(...)` / `stream(...)`) holding its
 * name, params schema, result schema, the error classes it may throw and a description. The
 * server registers a handler against that value (registry.ts: params and result types are
 * checked at compile time), the client's `call(name, params)` takes its types from it (client.ts),
 * and scripts/gen-api.ts writes docs/control-api.json from it. The dmsnet methods are listed in
 * catalogue/; see docs/control.md ("Adding a method").
 *
 * A declaration gives its schemas as functions, built on first use (issue 10: the whole
 * catalogue's zod objects cost every daemon ~1 MB, and a daemon parses the params of only the
 * methods it is called with; the result schemas only the docs, tests and the CLI read).
 */
import type { AbortOptions } from '@libp2p/interface'
import '../config/zod-prime.js' // before any schema: see there
import { z } from 'zod'

export type MethodKind = 'unary' | 'stream'

/** An error class that may cross the wire (constructor arguments vary, so they are not typed). */
export type ErrorClass = (abstract new (...args: never[]) => Error) & { readonly name: string }

export interface MethodSpec<N extends string = string, P extends z.ZodType = z.ZodType, R extends z.ZodType = z.ZodType, K extends MethodKind = MethodKind> {
  readonly name: N
  /** `unary`: one result. `stream`: NDJSON, `result` describes each item. */
  readonly kind: K
  readonly description: string
  /** Validated by the server before the handler runs; defaults are filled in there. */
  readonly params: P
  /** What the handler returns (each item, for a stream). Not checked at run time: the types are. */
  readonly result: R
  /** Errors this method raises on purpose, beyond those every call may get (catalogue/errors.ts). */
  readonly errors: readonly ErrorClass[]
}

export type NoParams = z.ZodObject<Record<never, never>>

interface Definition<P extends z.ZodType, R extends z.ZodType> {
  description: string
  /** The params schema, or (the catalogue's way) a function building it on first use; none: no params. */
  params?: P | (() => P)
  /** The result schema, or a function building it on first use. */
  result: R | (() => R)
  errors?: readonly ErrorClass[]
}

let built = 0

/** How many params and result schemas the catalogue has built so far in this process (tests: what a daemon builds). */
export function builtSchemaCount (): number {
  return built
}

/** A value built on the first call and kept: a schema shared by several declarations. */
export function lazy<T> (build: () => T): () => T {
  let value: T | undefined
  let done = false
  return () => {
    if (!done) {
      value = build()
      done = true
    }
    return value as T
  }
}

function define<N extends string, P extends z.ZodType, R extends z.ZodType, K extends MethodKind> (kind: K, name: N, d: Definition<P, R>): MethodSpec<N, P, R, K> {
  const params = lazy(() => {
    built++
    const p = typeof d.params === 'function' ? d.params() : d.params
    return (p ?? z.object({})) as P
  })
  const result = lazy(() => {
    built++
    return typeof d.result === 'function' ? d.result() : d.result
  })
  return Object.freeze({
    name,
    kind,
    description: d.description,
    get params () { return params() },
    get result () { return result() },
    errors: Object.freeze([...(d.errors ?? [])])
  })
}

/** A request/response method. */
export function unary<const N extends string, R extends z.ZodType, P extends z.ZodType = NoParams> (name: N, d: Definition<P, R>): MethodSpec<N, P, R, 'unary'> {
  return define('unary', name, d)
}

/** A streaming method: the response is NDJSON, one line per item. */
export function stream<const N extends string, R extends z.ZodType, P extends z.ZodType = NoParams> (name: N, d: Definition<P, R>): MethodSpec<N, P, R, 'stream'> {
  return define('stream', name, d)
}

/**
 * A result whose shape is a TypeScript type declared by a feature (e.g. `VpnStatus`): typed end to
 * end, described in the generated API only by `description` (no JSON Schema of its own).
 */
export function typed<T> (description: string): z.ZodType<T> {
  return z.custom<T>(() => true).meta({ description, 'x-typescript': true })
}

export type Catalogue = Readonly<Record<string, MethodSpec>>

/** Keys a list of specs by name, keeping each one's exact type. Throws on a duplicate name. */
export function catalogue<const S extends readonly MethodSpec[]> (...specs: S): { readonly [M in S[number] as M['name']]: M } {
  const out: Record<string, MethodSpec> = {}
  for (const s of specs) {
    if (out[s.name] != null) throw new Error(`control method "${s.name}" declared twice`)
    out[s.name] = s
  }
  return Object.freeze(out) as never
}

export type ParamsIn<S extends MethodSpec> = z.input<S['params']>
export type ParamsOut<S extends MethodSpec> = z.output<S['params']>
/** What the client receives. */
export type ResultOf<S extends MethodSpec> = z.output<S['result']>
/** What a handler must return (or yield). */
export type HandlerResult<S extends MethodSpec> = z.input<S['result']>

export type UnaryName<C extends Catalogue> = { [K in keyof C]: C[K] extends MethodSpec<string, z.ZodType, z.ZodType, 'unary'> ? K : never }[keyof C] & string
export type StreamName<C extends Catalogue> = { [K in keyof C]: C[K] extends MethodSpec<string, z.ZodType, z.ZodType, 'stream'> ? K : never }[keyof C] & string

/** `(params?, options?)` when every param is optional, else `(params, options?)`. */
export type CallArgs<S extends MethodSpec> = Record<never, never> extends ParamsIn<S>
  ? [params?: ParamsIn<S>, options?: AbortOptions]
  : [params: ParamsIn<S>, options?: AbortOptions]
