/**
 * `dmsnet swarm keygen [--out FILE] [--force]`: writes a new Kubo-format swarm key file (mode
 * 0600) for a static private network (`swarm.keyFile`). Needs no daemon. `--out -` prints the key
 * to stdout instead, like `ipfs-swarm-key-gen`.
 */
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import type { Command } from 'commander'
import { formatSwarmKey, generateSwarmKey, writeSwarmKeyFile } from '../../../swarm/key-file.js'
import { keyFingerprint } from '../../../swarm/static.js'
import { dataDirFrom, printOut, type GlobalOptions } from '../../context.js'
import { CliError } from '../../errors.js'

export interface KeygenOptions { out?: string, force?: boolean, json?: boolean }

/** Creates `path` exclusively (0600): an existing file is never touched. */
function writeNew (path: string, text: string): void {
  let fd: number
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 })
    fd = openSync(path, 'wx', 0o600)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new CliError(`${path} already exists; use --force to replace it (every node holding the old key is cut off)`)
    throw new CliError(`cannot create ${path}: ${(err as Error).message}`)
  }
  try {
    writeSync(fd, text)
  } finally {
    closeSync(fd)
  }
}

export async function keygen (opts: KeygenOptions, command: Command): Promise<void> {
  const psk = generateSwarmKey()
  if (opts.out === '-') {
    process.stdout.write(formatSwarmKey(psk))
    return
  }
  const globals = command.optsWithGlobals<GlobalOptions>()
  const path = opts.out != null ? resolve(opts.out) : join(dataDirFrom(globals), 'swarm.key')
  if (opts.force === true) writeSwarmKeyFile(path, psk)
  else writeNew(path, formatSwarmKey(psk))
  const result = { keyFile: path, fingerprint: keyFingerprint(psk) }
  printOut(result, opts.json === true, r => [
    `wrote ${r.keyFile} (mode 0600, fingerprint ${r.fingerprint})`,
    'copy it to every node of the private network and set in config.yaml:',
    `  swarm:\n    keyFile: ${r.keyFile}`
  ].join('\n'))
}
