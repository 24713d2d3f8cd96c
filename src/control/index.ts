/**
 * Local control API: how the CLI drives a running daemon. See docs/control.md.
 */
export { createMethodRegistry } from './registry.js'
export type { MethodRegistry, MethodContext, MethodInfo, UnaryMethod, StreamMethod, RegisteredMethod } from './registry.js'
export { createControlServer, defaultTokenFile, assertNoDaemon, assertSocketPath, MAX_SOCKET_PATH } from './server.js'
export type { ControlServer, ControlServerOptions, ControlLogger } from './server.js'
export { createControlClient } from './client.js'
export type { ControlClient, ControlClientOptions } from './client.js'
export { registerErrorClass, fromWireError } from './remote-errors.js'
export { DaemonNotRunningError, MethodNotFoundError, ControlProtocolError, RequestTooLargeError, RemoteError } from './errors.js'
export * from './protocol.js'
export { pushStream } from './stream.js'
export type { PushStreamOptions } from './stream.js'
