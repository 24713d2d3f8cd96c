/**
 * Host network devices: TUN/TAP (native, batched), namespaces, links/addresses/routes, veth pairs,
 * bridges and an nftables firewall in a table of its own. See docs/netdev.md.
 */
export * from './errors.js'
export { createTun, type TunDevice, type TunEvents, type TunOptions, type TunStats } from './tun.js'
export * from './records.js'
export * from './link.js'
export { createNetns, deleteNetns, execInNetns, listNetns, netnsExists, type NetdevOptions } from './netns.js'
export { createVeth, type Veth, type VethEndOptions, type VethOptions } from './veth.js'
export { attachToBridge, createBridge, type Bridge, type BridgeOptions } from './bridge.js'
export { createFirewall, type FilterRule, type Firewall, type FirewallOptions, type Masquerade, type PortMapping, type Protocol, type RuleCounter, type RuleEntry, type RuleKind } from './firewall.js'
export type { Cidr } from './validate.js'
