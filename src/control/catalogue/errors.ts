/**
 * The error catalogue: every error class that may cross the control wire, listed here and nowhere
 * else, with the fields it carries (`reason`, `issues`, `command`, ...). The server sends those
 * fields with the name and message (protocol.ts); the client rebuilds the same class with the same
 * fields (remote-errors.ts), so `err instanceof MessageRejectedError && err.reason` works across
 * the socket exactly as in process. A name not listed here arrives as a RemoteError.
 *
 * Adding an error class a method throws on purpose: one line below, and the class in that
 * method's `errors` (catalogue/<area>.ts). A field needs a schema: it is what docs/control-api.json
 * describes and what the client checks before putting it on the error.
 */
import { z } from 'zod'
import * as base from '../../errors.js'
import * as control from '../errors.js'
import * as messaging from '../../messaging/errors.js'
import * as swarm from '../../swarm/errors.js'
import * as vpn from '../../vpn/errors.js'
import * as netdev from '../../netdev/errors.js'
import * as network from '../../network/errors.js'
import { UnsafePathError } from '../../safe-file.js'
import { lazy, type ErrorClass } from '../spec.js'
import { NamespaceNotAttachedError, NamespaceNotFoundError, PortInUseError, PortMappingNotFoundError } from './vpn-errors.js'

export type ErrorFields = z.ZodObject

export interface ErrorEntry {
  readonly cls: ErrorClass
  /** This class's fields and those it inherits from a listed parent. */
  readonly fields: ErrorFields | undefined
}

// fields are built on first use (a daemon sends few errors, and most have no fields; issue 10)
const configIssues = (): ErrorFields => z.object({ issues: z.array(z.object({ key: z.string(), value: z.unknown(), expected: z.string() })) })
const reason = (): ErrorFields => z.object({ reason: z.string() })

/** [class, a function building its own fields]. Parents before children. */
const LIST: Array<[ErrorClass, (() => ErrorFields)?]> = [
  // src/errors.ts: shared by every area
  [base.DmsnetError],
  [base.ConfigError, configIssues],
  [base.InvalidArgumentError],
  [base.NotStartedError],
  [base.AlreadyStartedError],
  [base.AbortedError],
  [base.TimeoutError],
  [base.DialError],
  [base.PeerNotFoundError],
  [base.UnauthorizedError],
  [base.SystemError],
  [UnsafePathError],
  // the control API itself
  [control.DaemonNotRunningError],
  [control.MethodNotFoundError],
  [control.ControlProtocolError],
  [control.RequestTooLargeError],
  [control.RequestTimeoutError],
  // network
  [network.IdentityCorruptError],
  [network.IdentityPermissionError],
  // messaging
  [messaging.DuplicateHandlerError],
  [messaging.NoHandlerError],
  [messaging.MessageRejectedError, reason],
  [messaging.StreamClosedError],
  [messaging.MessageTooLargeError],
  [messaging.InvalidMessageError],
  [messaging.InvalidSignatureError],
  [messaging.ExpiredError],
  [messaging.RecordLifetimeError],
  // swarm
  [swarm.InvalidSwarmKeyError, () => z.object({ reason: z.enum(['header', 'encoding', 'length']) })],
  [swarm.SwarmKeyHeaderError],
  [swarm.SwarmKeyEncodingError],
  [swarm.SwarmKeyLengthError],
  [swarm.PskHandshakeError],
  [swarm.PskKeystreamExhaustedError],
  [swarm.SealError],
  [swarm.SwarmUnauthorizedError],
  [swarm.InvalidInviteError],
  [swarm.SwarmStateError],
  [swarm.SwarmProtocolError],
  [swarm.SwarmStateFileError],
  // vpn
  [vpn.AddressExhaustedError],
  [vpn.NotAuthorityError],
  [vpn.InvalidFrameError],
  [vpn.VpnNotRunningError],
  [vpn.VpnStateFileError],
  [vpn.MembershipRefusedError],
  [vpn.InvitationRefusedError],
  [vpn.StaleMembershipError],
  [NamespaceNotFoundError],
  [NamespaceNotAttachedError],
  [PortMappingNotFoundError],
  [PortInUseError],
  // netdev (vpn.attach and the port mappings run host commands)
  [netdev.InvalidInterfaceNameError],
  [netdev.InvalidNamespaceNameError],
  [netdev.InvalidAddressError],
  [netdev.InvalidPortError],
  [netdev.InvalidBatchError],
  [netdev.InvalidRuleError],
  [netdev.CommandFailedError, () => z.object({ command: z.string(), args: z.array(z.string()), exitCode: z.number().int().nullable(), stderr: z.string() })],
  [netdev.NativeBindingError],
  [netdev.TunOpenError, () => z.object({ errno: z.number().int().optional() })],
  [netdev.DeviceClosedError],
  [netdev.NotFoundError]
]

function build (): ReadonlyMap<string, ErrorEntry> {
  const out = new Map<string, ErrorEntry>()
  for (const [cls, own] of LIST) {
    if (out.has(cls.name)) throw new Error(`error class ${cls.name} listed twice`)
    const parents = [...out.values()].filter(parent => cls.prototype instanceof parent.cls)
    const fields = lazy(() => {
      let f = own?.()
      for (const parent of parents) {
        const pf = parent.fields
        if (pf != null) f = f == null ? pf : pf.extend(f.shape)
      }
      return f
    })
    out.set(cls.name, Object.freeze({ cls, get fields () { return fields() } }))
  }
  return out
}

/** By class name (`static name`, which is also `err.name`). */
export const errorCatalogue: ReadonlyMap<string, ErrorEntry> = build()
