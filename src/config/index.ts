/**
 * Node configuration: one schema, defaults, and loading from file < env < flags.
 */
export * from './schema.js'
export * from './load.js'
export * from './profiles.js'
