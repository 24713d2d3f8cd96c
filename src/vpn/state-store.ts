/**
 * The VPN's persisted state (`<dataDir>/vpn/state.json`): the last membership this node accepted
 * and, on the authority, its address plan. Written atomically without following links, read
 * without following links, in a directory no other user may write to; a corrupt file is a typed
 * error naming it, never silently discarded (that would make the node leave its VPN).
 */
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { assertPrivateDir, ensurePrivateDir, readFileNoFollow, writeFileAtomic } from '../safe-file.js'
import { VpnStateFileError } from './errors.js'
import { parseMembership, type VpnMembership } from './membership.js'
import type { AddressPlanJSON } from './address-plan.js'

export interface PersistedState {
  membership?: VpnMembership
  plan?: AddressPlanJSON
}

export interface StateStore {
  readonly file: string
  load (): Promise<PersistedState>
  save (state: PersistedState): Promise<void>
  forget (): Promise<void>
}

export function createStateStore (dataDir: string): StateStore {
  const dir = join(dataDir, 'vpn')
  const file = join(dir, 'state.json')
  return {
    file,
    async load () {
      let text: string
      try {
        await assertPrivateDir(dataDir)
        await assertPrivateDir(dir, { noLink: true })
        text = await readFileNoFollow(file)
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {}
        throw new VpnStateFileError(`cannot read ${file}: ${(err as Error).message}`, { cause: err })
      }
      try {
        const raw = JSON.parse(text) as PersistedState
        return { membership: raw.membership != null ? parseMembership(raw.membership) : undefined, plan: raw.plan }
      } catch (err) {
        throw new VpnStateFileError(`${file} is corrupt (${(err as Error).message}); fix or remove it (removing it forgets this node's VPN membership)`, { cause: err })
      }
    },
    async save (state) {
      await assertPrivateDir(dataDir)
      await ensurePrivateDir(dir)
      await writeFileAtomic(file, JSON.stringify(state, null, 2))
    },
    async forget () {
      await rm(file, { force: true })
    }
  }
}
