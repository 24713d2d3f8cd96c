/**
 * `dmsnet init`: creates the data dir (0700), the identity key (0600) and a commented
 * `config.yaml`. Never overwrites an existing config without `--force`, never replaces a key.
 */
import { chmod, mkdir, writeFile, access } from 'node:fs/promises'
import { join } from 'node:path'
import type { Command } from 'commander'
import { loadOrCreateIdentity } from '../../../network/identity.js'
import { parseConfig } from '../../../config/load.js'
import { dataDirFrom, printOut, type GlobalOptions } from '../../context.js'
import { CliError, EXIT_USAGE } from '../../errors.js'
import { configTemplate } from './template.js'
import { parse as parseYaml } from 'yaml'

export interface InitOptions {
  profile?: string
  listen?: string
  force?: boolean
  json?: boolean
}

export async function init (opts: InitOptions, command: Command): Promise<void> {
  const globals = command.optsWithGlobals<GlobalOptions>()
  const dataDir = dataDirFrom(globals)
  const profile = opts.profile ?? 'server'
  if (profile !== 'server' && profile !== 'lan') throw new CliError(`--profile: got "${profile}", expected server or lan`, EXIT_USAGE)
  const listen = opts.listen != null
    ? opts.listen.split(',').map(s => s.trim()).filter(s => s !== '')
    : ['/ip4/0.0.0.0/tcp/9000', '/ip4/0.0.0.0/tcp/9001/ws']
  const text = configTemplate({ profile, listen })
  // validate what we are about to write (e.g. a bad --listen) with the real schema
  parseConfig({ ...(parseYaml(text) as Record<string, unknown>), dataDir })

  if (await mkdir(dataDir, { recursive: true, mode: 0o700 }) != null) await chmod(dataDir, 0o700)
  const configFile = globals.config ?? join(dataDir, 'config.yaml')
  const exists = await access(configFile).then(() => true, () => false)
  if (exists && opts.force !== true) {
    throw new CliError(`${configFile} already exists; use --force to overwrite it (the identity key is never replaced)`)
  }
  await writeFile(configFile, text, { mode: 0o600 })
  const identity = await loadOrCreateIdentity(join(dataDir, 'identity.key'))
  const result = { dataDir, configFile, identityFile: identity.path, peerId: identity.peerId, createdIdentity: identity.created }
  printOut(result, opts.json === true, r => [
    `initialised ${r.dataDir}`,
    `  config:   ${r.configFile}`,
    `  identity: ${r.identityFile}${r.createdIdentity ? ' (new)' : ' (kept)'}`,
    `  peer id:  ${r.peerId}`,
    'start the node with: dmsnet up' + (globals.dataDir != null ? ` --data-dir ${dataDir}` : '')
  ].join('\n'))
}
