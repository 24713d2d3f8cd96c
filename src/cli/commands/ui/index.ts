/**
 * `dmsnet ui`: prints a one-time login link to the running daemon's status page (control method
 * `ui.login`; the page itself is src/ui). The link logs one browser in and then stops working.
 */
import type { Command } from 'commander'
import type { CliContext, ActionArgs } from '../../context.js'
import { CliError } from '../../errors.js'
import type { UiLogin } from '../../../control/catalogue/index.js'

async function ui ({ client, opts, out }: ActionArgs<{ json?: boolean }>): Promise<void> {
  let login: UiLogin
  try {
    login = await client.call('ui.login')
  } catch (err) {
    if ((err as Error).name === 'MethodNotFoundError') throw new CliError('the status page is off on this daemon (config ui.enabled: false)')
    throw err
  }
  out(login, opts.json === true, l => [
    `status page: ${l.origin}`,
    `open this link once to log in (valid ${Math.round((l.expiresAt - Date.now()) / 1000)}s, single use):`,
    `  ${l.url}`,
    `from another machine: ssh -L ${new URL(l.origin).port}:127.0.0.1:${new URL(l.origin).port} <this host>, then open the link there`
  ].join('\n'))
}

export function register (program: Command, ctx: CliContext): void {
  program.command('ui')
    .description('print a one-time login link to the status page of the running node')
    .option('--json', 'print JSON')
    .action(ctx.action(ui))
}
