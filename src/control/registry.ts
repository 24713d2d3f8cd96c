/**
 * The method registry: the running daemon's handlers, each registered against its declaration in
 * the catalogue (spec.ts, catalogue/), so the control server never needs editing for a new method
 * and a handler whose params or result drift from the declaration fails to compile.
 *
 *   registry.implement(messaging.send, async (p, { signal }) => {   // p: the parsed params
 *     ...
 *     return { peer: p.peer, type: p.type, acked: true, ms }         // checked against send.result
 *   })
 *   registry.implement(messaging.subscribe, (p, { signal }) => pushStream(signal, push => ...))
 *
 * `signal` aborts when the client goes away or the daemon stops; long calls must honour it.
 */
import { InvalidArgumentError } from '../errors.js'
import { MethodNotFoundError } from './errors.js'
import type { HandlerResult, MethodKind, MethodSpec, ParamsOut } from './spec.js'

export interface MethodContext {
  /** Aborted when the caller disconnects or the daemon shuts down. */
  signal: AbortSignal
}

export type UnaryHandler<S extends MethodSpec> = (params: ParamsOut<S>, ctx: MethodContext) => Promise<HandlerResult<S>> | HandlerResult<S>
export type StreamHandler<S extends MethodSpec> = (params: ParamsOut<S>, ctx: MethodContext) => AsyncIterable<HandlerResult<S>>
export type HandlerFor<S extends MethodSpec> = S['kind'] extends 'stream' ? StreamHandler<S> : UnaryHandler<S>

export type RegisteredMethod =
  | { kind: 'unary', name: string, spec: MethodSpec, handler: (params: unknown, ctx: MethodContext) => unknown }
  | { kind: 'stream', name: string, spec: MethodSpec, handler: (params: unknown, ctx: MethodContext) => AsyncIterable<unknown> }

export interface MethodInfo {
  name: string
  kind: MethodKind
  description: string
}

export interface MethodRegistry {
  /** Adds the handler of a declared method; returns its removal. Throws InvalidArgumentError if the name is taken. */
  implement: <S extends MethodSpec>(spec: S, handler: HandlerFor<S>) => () => void
  /** Finds a method; throws MethodNotFoundError. */
  get: (name: string) => RegisteredMethod
  has: (name: string) => boolean
  list: () => MethodInfo[]
  /** Validates raw params against the method's schema; throws InvalidArgumentError naming the field. */
  parseParams: (method: RegisteredMethod, raw: unknown) => unknown
}

const NAME = /^[a-z][a-z0-9-]*(\.[a-z][a-zA-Z0-9-]*)+$/

export function createMethodRegistry (): MethodRegistry {
  const methods = new Map<string, RegisteredMethod>()

  return {
    implement (spec, handler) {
      if (!NAME.test(spec.name)) throw new InvalidArgumentError(`control method name "${spec.name}" must look like "area.verb"`)
      if (methods.has(spec.name)) throw new InvalidArgumentError(`control method "${spec.name}" is already registered`)
      const entry = { kind: spec.kind, name: spec.name, spec, handler } as RegisteredMethod
      methods.set(spec.name, entry)
      return () => {
        if (methods.get(spec.name) === entry) methods.delete(spec.name)
      }
    },
    get (name) {
      const m = methods.get(name)
      if (m == null) throw new MethodNotFoundError(`unknown control method "${name}"`)
      return m
    },
    has (name) {
      return methods.has(name)
    },
    list () {
      return [...methods.values()]
        .map(m => ({ name: m.name, kind: m.kind, description: m.spec.description }))
        .sort((a, b) => a.name.localeCompare(b.name))
    },
    parseParams (method, raw) {
      const r = method.spec.params.safeParse(raw ?? {})
      if (r.success) return r.data
      const first = r.error.issues[0]
      const where = first != null && first.path.length > 0 ? first.path.join('.') : 'params'
      throw new InvalidArgumentError(`${method.name}: ${where}: ${first?.message ?? 'invalid parameters'}`)
    }
  }
}
