/**
 * `dmsnet service install|uninstall|print`: runs the daemon under systemd with the hardened unit
 * of unit.ts. The unit starts this very Node binary and this package's bin/dmsnet.js, so an
 * upgrade in place (`npm install -g dmsnet@<new>`) needs only `systemctl restart dmsnet`.
 */
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { rm, writeFile } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Command } from 'commander'
import { printOut } from '../../context.js'
import { CliError, EXIT_USAGE } from '../../errors.js'
import { systemdUnit, type UnitOptions } from './unit.js'

interface ServiceOptions {
  name: string
  unitDir: string
  user?: string
  allowNetns?: boolean
  systemctl: boolean
  now?: boolean
  json?: boolean
}

const NAME = /^[a-z][a-z0-9-]{0,30}$/

/** bin/dmsnet.js of this package (from dist/src/cli/commands/service or src/cli/commands/service). */
function binPath (): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); dirname(dir) !== dir; dir = dirname(dir)) {
    const bin = join(dir, 'bin', 'dmsnet.js')
    if (existsSync(bin)) return bin
  }
  throw new CliError('cannot find bin/dmsnet.js of this installation; reinstall dmsnet')
}

function unitOptions (o: ServiceOptions): UnitOptions {
  if (!NAME.test(o.name)) throw new CliError(`--name: got "${o.name}", expected lower-case letters, digits and -`, EXIT_USAGE)
  if (o.user != null && !/^[a-z_][a-z0-9_-]{0,31}$/.test(o.user)) throw new CliError(`--user: got "${o.user}", expected a user name`, EXIT_USAGE)
  return { node: process.execPath, bin: binPath(), stateDir: o.name, user: o.user, allowNetns: o.allowNetns === true }
}

/** Runs systemctl when asked to and when it exists; a failure is reported with systemctl's words. */
function systemctl (o: ServiceOptions, args: string[]): string | undefined {
  if (!o.systemctl) return undefined
  const r = spawnSync('systemctl', args, { encoding: 'utf8' })
  if (r.error != null) throw new CliError(`systemctl ${args.join(' ')}: ${r.error.message} (use --no-systemctl to only write the unit)`)
  if (r.status !== 0) throw new CliError(`systemctl ${args.join(' ')} failed: ${(r.stderr || r.stdout).trim()}`)
  return `systemctl ${args.join(' ')}`
}

async function install (o: ServiceOptions): Promise<void> {
  const text = systemdUnit(unitOptions(o))
  const file = resolve(o.unitDir, `${o.name}.service`)
  await writeFile(file, text, { mode: 0o644 })
  const ran = [systemctl(o, ['daemon-reload']), o.now === true ? systemctl(o, ['enable', '--now', `${o.name}.service`]) : undefined].filter(x => x != null)
  printOut({ unit: file, ran, dataDir: `/var/lib/${o.name}` }, o.json === true, r => [
    `wrote ${r.unit}`,
    ...r.ran.map(c => `ran ${c}`),
    ...(o.now === true ? [] : [`start it with: systemctl enable --now ${o.name}`]),
    `data dir: ${r.dataDir} (login link to the status page: sudo dmsnet --data-dir ${r.dataDir} ui)`
  ].join('\n'))
}

async function uninstall (o: ServiceOptions): Promise<void> {
  if (!NAME.test(o.name)) throw new CliError(`--name: got "${o.name}", expected lower-case letters, digits and -`, EXIT_USAGE)
  const file = resolve(o.unitDir, `${o.name}.service`)
  if (!existsSync(file)) throw new CliError(`${file} does not exist: nothing to uninstall`)
  const ran: string[] = []
  const stopped = systemctl(o, ['disable', '--now', `${o.name}.service`])
  if (stopped != null) ran.push(stopped)
  await rm(file)
  const reloaded = systemctl(o, ['daemon-reload'])
  if (reloaded != null) ran.push(reloaded)
  printOut({ removed: file, ran, kept: `/var/lib/${o.name}` }, o.json === true, r => [
    `removed ${r.removed}`, ...r.ran.map(c => `ran ${c}`), `kept the data dir ${r.kept} (identity, config); delete it by hand if it is no longer wanted`
  ].join('\n'))
}

export function register (program: Command): void {
  const service = program.command('service').description('run the daemon as a systemd service (hardened unit)')
  const common = (c: Command): Command => c
    .option('--name <name>', 'unit name; also the state directory /var/lib/<name>', 'dmsnet')
    .option('--unit-dir <dir>', 'where unit files live', '/etc/systemd/system')
    .option('--no-systemctl', 'only write/remove the unit file, do not call systemctl')
    .option('--json', 'print JSON')
  common(service.command('install')
    .description('write the unit (and reload systemd); --now also enables and starts it')
    .option('--user <user>', 'run as this existing user (default: a systemd dynamic user)')
    .option('--allow-netns', 'also allow network namespaces (vpn attach of job namespaces; adds CAP_SYS_ADMIN)')
    .option('--now', 'systemctl enable --now'))
    .action(async (opts: ServiceOptions) => { await install(opts) })
  common(service.command('uninstall')
    .description('stop and disable the service and remove its unit (the data dir is kept)'))
    .action(async (opts: ServiceOptions) => { await uninstall(opts) })
  service.command('print')
    .description('print the unit install would write')
    .option('--name <name>', 'unit name; also the state directory /var/lib/<name>', 'dmsnet')
    .option('--user <user>', 'run as this existing user (default: a systemd dynamic user)')
    .option('--allow-netns', 'also allow network namespaces (adds CAP_SYS_ADMIN)')
    .option('--json', 'print {"unit": text} as JSON')
    .action((opts: ServiceOptions) => {
      const unit = systemdUnit(unitOptions({ ...opts, unitDir: '', systemctl: false }))
      if (opts.json === true) printOut({ unit }, true)
      else process.stdout.write(unit)
    })
}
