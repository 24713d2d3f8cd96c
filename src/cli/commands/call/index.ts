/**
 * `dmsnet call <method> [params-json]`: call any control method (scripts, debugging, methods that
 * have no command of their own yet). `dmsnet call control.methods` lists them.
 */
import type { Command } from 'commander'
import type { CliContext, ActionArgs } from '../../context.js'
import { CliError, EXIT_USAGE } from '../../errors.js'

async function call ({ client, args, opts }: ActionArgs<{ stream?: boolean }>): Promise<void> {
  const [method, raw] = args as [string, string | undefined]
  let params: unknown = {}
  if (raw != null) {
    try {
      params = JSON.parse(raw)
    } catch {
      throw new CliError(`params: got ${JSON.stringify(raw)}, expected a JSON object such as '{"peer":"12D3..."}'`, EXIT_USAGE)
    }
  }
  if (opts.stream === true) {
    const ac = new AbortController()
    process.once('SIGINT', () => { ac.abort() })
    try {
      for await (const v of client.streamUnchecked(method, params, { signal: ac.signal })) process.stdout.write(JSON.stringify(v) + '\n')
    } catch (err) {
      if (!ac.signal.aborted) throw err
    }
    return
  }
  process.stdout.write(JSON.stringify(await client.callUnchecked(method, params), null, 2) + '\n')
}

export function register (program: Command, ctx: CliContext): void {
  program.command('call')
    .description('call a control method directly and print its JSON result')
    .argument('<method>', 'e.g. node.status (list: dmsnet call control.methods)')
    .argument('[params]', 'parameters as a JSON object')
    .option('--stream', 'the method streams: print one JSON line per item')
    .option('--json', 'print JSON (always the case; accepted like on every other command)')
    .action(ctx.action(call))
}
