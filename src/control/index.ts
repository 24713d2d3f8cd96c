/**
 * Local control API: how the CLI drives a running daemon. See docs/control.md.
 */
export { createMethodRegistry } from './registry.js'
export type { MethodRegistry, MethodContext, MethodInfo, RegisteredMethod, UnaryHandler, StreamHandler, HandlerFor } from './registry.js'
export { unary, stream, typed, catalogue, lazy, builtSchemaCount } from './spec.js'
export type { MethodSpec, MethodKind, Catalogue, ErrorClass, ParamsIn, ParamsOut, ResultOf, HandlerResult, UnaryName, StreamName, CallArgs } from './spec.js'
export { controlApi, errorCatalogue, NamespaceNotAttachedError, NamespaceNotFoundError, PortInUseError, PortMappingNotFoundError } from './catalogue/index.js'
export type { DmsnetApi, DmsnetMethod, NodeEvent, NodeStatus, UiLogin, ErrorEntry } from './catalogue/index.js'
export { createControlServer, defaultTokenFile, assertNoDaemon, assertSocketPath, MAX_SOCKET_PATH } from './server.js'
export type { ControlServer, ControlServerOptions, ControlLogger } from './server.js'
export { createControlClient } from './client.js'
export type { ControlClient, ControlClientOptions } from './client.js'
export { fromWireError } from './remote-errors.js'
export { DaemonNotRunningError, MethodNotFoundError, ControlProtocolError, RequestTimeoutError, RequestTooLargeError, ResponseTooLargeError, RemoteError } from './errors.js'
export * from './protocol.js'
export { pushStream } from './stream.js'
export type { PushStreamOptions } from './stream.js'
