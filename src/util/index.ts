/**
 * Small shared helpers every layer may use (they import nothing from dmsnet): pauses, signal
 * deadlines, serialised operations, a lazily made value (once-retry). Atomic private files live in ../safe-file.ts.
 */
export * from './sleep.js'
export * from './signal.js'
export * from './serial.js'
export * from './once-retry.js'
