/**
 * The dmsnet control API: every method the daemon offers, declared once (spec.ts), and the
 * errors that may cross the wire (errors.ts). The client's types, the server's handler checks and
 * docs/control-api.json (npm run gen:api) all come from here. See docs/control.md.
 */
import { catalogue } from '../spec.js'
import * as messaging from './messaging.js'
import * as node from './node.js'
import * as swarm from './swarm.js'
import * as ui from './ui.js'
import * as vpn from './vpn.js'

export { node, messaging, swarm, vpn, ui }
export type { NodeEvent, NodeStatus } from './node.js'
export type { UiLogin } from './ui.js'
export { errorCatalogue, type ErrorEntry } from './errors.js'
export { NamespaceNotAttachedError, NamespaceNotFoundError, PortInUseError, PortMappingNotFoundError } from './vpn-errors.js'

export const controlApi = catalogue(
  node.methods, node.id, node.status, node.peers, node.connect, node.disconnect, node.ping, node.events, node.shutdown,
  node.dhtStatus, node.dhtFindPeer,
  messaging.send, messaging.request, messaging.publish, messaging.subscribe, messaging.inbox, messaging.stats,
  messaging.advertise, messaging.query, messaging.jobPublish, messaging.jobServe, messaging.topic,
  swarm.create, swarm.authorize, swarm.revoke, swarm.invite, swarm.join, swarm.leave, swarm.rotate, swarm.status,
  vpn.up, vpn.add, vpn.remove, vpn.down, vpn.status, vpn.ping, vpn.attach, vpn.detach, vpn.mapPort, vpn.unmapPort, vpn.ports,
  ui.login
)

/** The type of the dmsnet catalogue: what `ControlClient` is typed against by default. */
export type DmsnetApi = typeof controlApi
export type DmsnetMethod = keyof DmsnetApi
