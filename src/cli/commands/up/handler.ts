/**
 * `dmsnet up`: runs the node in the foreground until SIGINT/SIGTERM or `dmsnet stop`.
 * Prints one "ready" block on stdout (scripts and tests wait for the `dmsnet: ready` line); logs
 * are JSON lines on stderr.
 */
import type { Command } from 'commander'
import { resolveConfig, type GlobalOptions } from '../../context.js'
import { createNode } from '../../../daemon/node.js'
import { onShutdown } from '../../../daemon/shutdown.js'
import { upFlagsToConfig, type UpOptions } from './options.js'
import type { UiModule } from '../../../daemon/features/ui.js'

export async function up (opts: UpOptions, command: Command): Promise<void> {
  const globals = command.optsWithGlobals<GlobalOptions>()
  // A bad flag or config value throws ConfigError here, before anything starts (exit 2).
  const config = resolveConfig(globals, upFlagsToConfig(opts))
  // the daemon has the process to itself: it may collect and trim it when idle (memory.reclaim.*)
  const node = createNode(config, { reclaimMemory: true })
  // A stray rejection inside a library must not take a running node down; log it loudly.
  // An uncaught exception leaves the process in an unknown state: stop cleanly, exit non-zero.
  const onRejection = (reason: unknown): void => { node.logger.error({ err: reason }, 'unhandled promise rejection') }
  const onException = (err: Error): void => {
    node.logger.fatal({ err }, 'uncaught exception; stopping')
    process.exitCode = 1
    shutdown.trigger()
  }
  process.on('unhandledRejection', onRejection)
  process.on('uncaughtException', onException)
  const shutdown = onShutdown(async () => { await node.stop() }, {
    onSignal: sig => { process.stderr.write(`dmsnet: ${sig} received, stopping (again to force)\n`) },
    onForce: why => { process.stderr.write(`dmsnet: forced exit: ${why}\n`) }
  })
  try {
    await node.start()
  } catch (err) {
    shutdown.dispose()
    throw err
  }
  const addrs = node.network.getMultiaddrs().map(String)
  if (opts.json === true) {
    process.stdout.write(JSON.stringify({ event: 'ready', peerId: node.peerId, listen: addrs, control: config.control.socket, metrics: node.metricsUrl ?? null, profile: config.profile, dataDir: config.dataDir }) + '\n')
  } else process.stdout.write([
    `peer id:  ${node.peerId}`,
    ...addrs.map(a => `listen:   ${a}`),
    `control:  ${config.control.socket}`,
    ...(node.metricsUrl != null ? [`metrics:  ${node.metricsUrl}`] : []),
    ...(node.module<UiModule>('ui')?.origin != null ? [`ui:       ${node.module<UiModule>('ui')!.origin} (dmsnet ui prints a login link)`] : []),
    `dmsnet: ready (profile ${config.profile}, data dir ${config.dataDir}); Ctrl-C to stop`
  ].join('\n') + '\n')
  // `dmsnet stop` (node.shutdown) stops the node without a signal: let the same path finish
  void node.stopped.then(() => { shutdown.trigger() })
  await shutdown.done
  process.off('unhandledRejection', onRejection)
  process.off('uncaughtException', onException)
  process.stdout.write(opts.json === true ? JSON.stringify({ event: 'stopped' }) + '\n' : 'dmsnet: stopped\n')
}
