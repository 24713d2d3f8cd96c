/**
 * The handler registry: one handler per message type, registering a type twice is an error.
 */
import { InvalidArgumentError } from '../errors.js'
import { DuplicateHandlerError } from './errors.js'
import { MAX_NAME_LENGTH } from './envelope.js'
import type { MessageHandler } from './types.js'

export class HandlerRegistry {
  private readonly handlers = new Map<string, MessageHandler>()

  register (type: string, handler: MessageHandler): void {
    if (typeof type !== 'string' || type.length === 0 || type.length > MAX_NAME_LENGTH) {
      throw new InvalidArgumentError(`message type must be a string of 1-${MAX_NAME_LENGTH} characters`)
    }
    if (typeof handler !== 'function') throw new InvalidArgumentError('handler must be a function')
    if (this.handlers.has(type)) throw new DuplicateHandlerError(`a handler for "${type}" is already registered`)
    this.handlers.set(type, handler)
  }

  /** Returns true when a handler was removed. */
  unregister (type: string): boolean {
    return this.handlers.delete(type)
  }

  get (type: string): MessageHandler | undefined {
    return this.handlers.get(type)
  }

  types (): string[] {
    return [...this.handlers.keys()]
  }
}
