/**
 * `dmsnet subscribe <topic>`: prints verified messages of a gossip topic until Ctrl-C.
 */
import type { Command } from 'commander'
import type { ActionArgs, CliContext } from '../../context.js'
import { shortId } from '../../format.js'

interface Opts { json?: boolean, base64?: boolean }

async function subscribe ({ client, args, opts }: ActionArgs<Opts>): Promise<void> {
  const [topic] = args as [string]
  const ac = new AbortController()
  const stop = (): void => { ac.abort() }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
  try {
    for await (const m of client.stream('messaging.subscribe', { topic, encoding: opts.base64 === true ? 'base64' : 'utf8' }, { signal: ac.signal })) {
      const t = new Date(m.at).toISOString().slice(11, 23)
      process.stdout.write((opts.json === true ? JSON.stringify(m) : `${t} ${shortId(m.from)} ${m.type}: ${m.payload}`) + '\n')
    }
  } catch (err) {
    if (!ac.signal.aborted) throw err
  } finally {
    process.off('SIGINT', stop)
    process.off('SIGTERM', stop)
  }
}

export function register (program: Command, ctx: CliContext): void {
  program.command('subscribe')
    .description('print verified messages published on a gossip topic; Ctrl-C to stop')
    .argument('<topic>', 'topic, e.g. /my/topic')
    .option('--base64', 'print payloads as base64')
    .option('--json', 'one JSON object per line')
    .action(ctx.action(subscribe))
}
