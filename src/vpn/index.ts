/**
 * dmsnet VPN: IP over libp2p. `createVpn` (vpn.ts) is the entry point; the rest are its parts,
 * exported for tools and tests: the address plan, the route table, tunnel framing, DNS, the
 * TUN factory on src/netdev. See docs/vpn.md.
 */
export * from './errors.js'
export * from './types.js'
export * from './vpn.js'
export * from './address-plan.js'
export * from './membership.js'
export * from './routes.js'
export * from './framing.js'
export * from './dns.js'
export * from './tun-device.js'
export * from './jobs.js'
export { CONTROL_PROTOCOL } from './control.js'
export { parseCidr, formatCidr, parseIPv4, formatIPv4 as formatIPv4Address, parseIPv6, formatIPv6 as formatIPv6Address } from './ip.js'
