/**
 * The VPN's IP arithmetic: shared with the config schema, so it lives in src/util/ip.ts.
 */
export * from '../util/ip.js'
