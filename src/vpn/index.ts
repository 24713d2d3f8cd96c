/**
 * dmsnet VPN: IP over libp2p. `createVpn` (vpn.ts) is the entry point; the rest are its parts,
 * exported for tools and tests: the address plan, the route table, tunnel framing (the TUN batch
 * record format of src/netdev, re-exported here), DNS, the TUN factory on src/netdev. See docs/vpn.md.
 */
export * from './errors.js'
export * from './types.js'
export * from './vpn.js'
export * from './address-plan.js'
export * from './membership.js'
export * from './policy.js'
export { vnetHeaderOk } from './vnet-hdr.js'
export * from './routes.js'
export { buildBatch, iterateRecords, MAX_RECORD_PAYLOAD, readRecordLength, RECORD_HEADER, RecordReassembler, VNET_HDR_LEN, type RecordBounds } from '../netdev/records.js'
export * from './dns.js'
export * from './tun-device.js'
export * from './jobs.js'
export { CONTROL_PROTOCOL } from './control.js'
export { parseCidr, formatCidr, parseIPv4, formatIPv4 as formatIPv4Address, parseIPv6, formatIPv6 as formatIPv6Address } from './ip.js'
