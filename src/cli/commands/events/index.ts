/**
 * `dmsnet events`: follow the running node's network events (Ctrl-C to stop).
 */
import type { Command } from 'commander'
import type { CliContext, ActionArgs } from '../../context.js'
import { shortId } from '../../format.js'
import type { NodeEvent } from '../../../control/catalogue/index.js'

function human (e: NodeEvent): string {
  const t = new Date(e.at).toISOString().slice(11, 23)
  const d = (e.detail ?? {}) as Record<string, unknown>
  switch (e.type) {
    case 'peer:connectedness': return `${t} ${d.connectedness === 'connected' ? 'connected   ' : 'disconnected'} ${shortId(String(d.peerId))}`
    case 'peer:identified': return `${t} identified   ${shortId(String(d.peerId))} ${String(d.agentVersion ?? '')}`
    default: return `${t} ${e.type} ${JSON.stringify(d)}`
  }
}

async function events ({ client, opts }: ActionArgs<{ json?: boolean }>): Promise<void> {
  const ac = new AbortController()
  const stop = (): void => { ac.abort() }
  process.once('SIGINT', stop)
  try {
    for await (const e of client.stream('node.events', {}, { signal: ac.signal })) {
      if (e.type === 'events:attached' && opts.json !== true) {
        process.stderr.write(`following events of ${shortId(String((e.detail as { peerId?: string }).peerId))} (Ctrl-C to stop)\n`)
        continue
      }
      process.stdout.write((opts.json === true ? JSON.stringify(e) : human(e)) + '\n')
    }
  } catch (err) {
    if (!ac.signal.aborted) throw err
  } finally {
    process.off('SIGINT', stop)
  }
}

export function register (program: Command, ctx: CliContext): void {
  program.command('events')
    .description('follow network events (connections, identify, address changes); Ctrl-C to stop')
    .option('--json', 'one JSON object per line')
    .action(ctx.action(events))
}
