/**
 * libp2p's component logger, minus its cost while nobody reads its output (issue 10).
 *
 * libp2p logs through `debug` (weald): every connection, every stream and every multistream-select
 * negotiation makes new scoped loggers (`log.newScope('inbound:3')`, `'mss:handle'`...), and each
 * scoped logger is two `debug` instances, each of which matches its name against the enabled
 * namespaces, picks a colour by hashing the name and asks the kernel whether stderr is a terminal
 * (`isatty(2)`, a syscall). That is ~10-20 µs per logger on this machine, paid on every DHT RPC,
 * identify and ping stream at both ends, to write nothing: without `DEBUG` in the environment no
 * namespace is enabled. So, when `DEBUG` is unset or empty, the host gets one disabled logger for
 * every component and scope; with `DEBUG` set, libp2p's own (nothing changes for debugging).
 * The choice is made when the host starts: enabling a namespace later at run time (`debug.enable()`)
 * has no effect on a host started without `DEBUG`; restart it with `DEBUG` set.
 */
import type { ComponentLogger, Logger } from '@libp2p/interface'

const noop = (): void => {}

/** One logger that writes nothing, for every component and scope. */
const disabled: Logger = Object.assign((): void => {}, {
  enabled: false,
  error: noop,
  trace: noop,
  newScope: (): Logger => disabled
})

/** Whether `env` turns any `debug` namespace on (libp2p reads `DEBUG` once, at start). */
export function debugRequested (env: NodeJS.ProcessEnv = process.env): boolean {
  return (env.DEBUG ?? '').trim() !== ''
}

/**
 * The logger component for `createLibp2p`: a disabled one unless `DEBUG` asks for libp2p's logs
 * (then undefined: libp2p's default).
 */
export function quietLogger (env: NodeJS.ProcessEnv = process.env): ComponentLogger | undefined {
  if (debugRequested(env)) return undefined
  return { forComponent: () => disabled }
}
