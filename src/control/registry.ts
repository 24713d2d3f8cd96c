/**
 * The method registry: every feature module (network, messaging, swarm, VPN, ...) adds its own
 * control methods here, so the control server never needs editing for a new feature.
 *
 *   registry.register('swarm.create', {
 *     description: 'create a private swarm',
 *     params: z.object({ name: z.string() }),        // optional zod schema, validated before the call
 *     handler: async (params, { signal }) => ({ ... })  // JSON-serialisable result
 *   })
 *   registry.registerStream('messaging.subscribe', {
 *     params: z.object({ topic: z.string() }),
 *     handler: async function * (params, { signal }) { yield { ... } }  // one NDJSON line per value
 *   })
 *
 * `signal` aborts when the client goes away or the daemon stops; long calls must honour it.
 */
import type { z } from 'zod'
import { InvalidArgumentError } from '../errors.js'
import { MethodNotFoundError } from './errors.js'

export interface MethodContext {
  /** Aborted when the caller disconnects or the daemon shuts down. */
  signal: AbortSignal
}

type Schema = z.ZodType

type ParamsOf<S> = S extends z.ZodType ? z.output<S> : unknown

export interface UnaryMethod<S extends Schema | undefined = Schema | undefined> {
  description?: string
  params?: S
  handler: (params: ParamsOf<S>, ctx: MethodContext) => Promise<unknown> | unknown
}

export interface StreamMethod<S extends Schema | undefined = Schema | undefined> {
  description?: string
  params?: S
  handler: (params: ParamsOf<S>, ctx: MethodContext) => AsyncIterable<unknown>
}

export type RegisteredMethod =
  | { kind: 'unary', name: string, description?: string, params?: Schema, handler: UnaryMethod['handler'] }
  | { kind: 'stream', name: string, description?: string, params?: Schema, handler: StreamMethod['handler'] }

export interface MethodInfo {
  name: string
  kind: 'unary' | 'stream'
  description?: string
}

export interface MethodRegistry {
  /** Adds a request/response method. Throws InvalidArgumentError if the name is taken. */
  register<S extends Schema | undefined = undefined> (name: string, method: UnaryMethod<S>): () => void
  /** Adds a streaming method (the response is NDJSON, one line per yielded value). */
  registerStream<S extends Schema | undefined = undefined> (name: string, method: StreamMethod<S>): () => void
  /** Removes a method (modules that stop call the function `register` returned instead). */
  unregister (name: string): void
  /** Finds a method; throws MethodNotFoundError. */
  get (name: string): RegisteredMethod
  has (name: string): boolean
  list (): MethodInfo[]
  /** Validates raw params against the method's schema; throws InvalidArgumentError naming the field. */
  parseParams (method: RegisteredMethod, raw: unknown): unknown
}

const NAME = /^[a-z][a-z0-9-]*(\.[a-z][a-zA-Z0-9-]*)+$/

export function createMethodRegistry (): MethodRegistry {
  const methods = new Map<string, RegisteredMethod>()

  function add (entry: RegisteredMethod): () => void {
    if (!NAME.test(entry.name)) throw new InvalidArgumentError(`control method name "${entry.name}" must look like "area.verb"`)
    if (methods.has(entry.name)) throw new InvalidArgumentError(`control method "${entry.name}" is already registered`)
    methods.set(entry.name, entry)
    return () => {
      if (methods.get(entry.name) === entry) methods.delete(entry.name)
    }
  }

  return {
    register (name, method) {
      return add({ kind: 'unary', name, description: method.description, params: method.params, handler: method.handler as UnaryMethod['handler'] })
    },
    registerStream (name, method) {
      return add({ kind: 'stream', name, description: method.description, params: method.params, handler: method.handler as StreamMethod['handler'] })
    },
    unregister (name) {
      methods.delete(name)
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
        .map(m => ({ name: m.name, kind: m.kind, ...(m.description != null ? { description: m.description } : {}) }))
        .sort((a, b) => a.name.localeCompare(b.name))
    },
    parseParams (method, raw) {
      if (method.params == null) return raw ?? {}
      const r = method.params.safeParse(raw ?? {})
      if (r.success) return r.data
      const first = r.error.issues[0]
      const where = first != null && first.path.length > 0 ? first.path.join('.') : 'params'
      throw new InvalidArgumentError(`${method.name}: ${where}: ${first?.message ?? 'invalid parameters'}`)
    }
  }
}
