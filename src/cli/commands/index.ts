/**
 * Every `dmsnet` command, in the order `--help` lists them: the core ones first, then the
 * features alphabetically. A new command is a folder with an `index.ts` exporting
 * `register(program, ctx)`, and one line here.
 */
import type { Command } from 'commander'
import type { CliContext } from '../context.js'
import { register as init } from './init/index.js'
import { register as up } from './up/index.js'
import { register as status } from './status/index.js'
import { register as id } from './id/index.js'
import { register as peers } from './peers/index.js'
import { register as ping } from './ping/index.js'
import { register as connect } from './connect/index.js'
import { register as events } from './events/index.js'
import { register as stop } from './stop/index.js'
import { register as call } from './call/index.js'
import { register as completion } from './completion/index.js'
import { register as job } from './job/index.js'
import { register as publish } from './publish/index.js'
import { register as request } from './request/index.js'
import { register as send } from './send/index.js'
import { register as service } from './service/index.js'
import { register as subscribe } from './subscribe/index.js'
import { register as swarm } from './swarm/index.js'
import { register as ui } from './ui/index.js'
import { register as vpn } from './vpn/index.js'

export type RegisterCommand = (program: Command, ctx: CliContext) => void

export const commands: readonly RegisterCommand[] = [
  init, up, status, id, peers, ping, connect, events, stop, call,
  completion, job, publish, request, send, service, subscribe, swarm, ui, vpn
]
