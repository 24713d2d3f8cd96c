/**
 * Kernel settings the VPN changes (e.g. `net.ipv4.ip_forward` for job namespaces), remembered on
 * first change and put back when the VPN stops. /proc/sys/net is per network namespace, so this
 * restores exactly the namespace the daemon runs in and touches no other.
 */
import { readFile, writeFile } from 'node:fs/promises'

export interface SysctlGuard {
  /** Sets `/proc/sys/<key>` (dots as slashes) to `value`, remembering what it was. */
  set (key: string, value: string): Promise<void>
  /** Puts every changed setting back (only where it still holds our value). */
  restore (): Promise<void>
}

export function createSysctlGuard (root = '/proc/sys'): SysctlGuard {
  const saved = new Map<string, { before: string, ours: string }>()
  const path = (key: string): string => `${root}/${key.replaceAll('.', '/')}`
  return {
    async set (key, value) {
      const before = (await readFile(path(key), 'utf8')).trim()
      if (!saved.has(key)) saved.set(key, { before, ours: value })
      if (before !== value) await writeFile(path(key), value)
    },
    async restore () {
      for (const [key, { before, ours }] of saved) {
        try {
          const now = (await readFile(path(key), 'utf8')).trim()
          // someone else changed it since: theirs to keep
          if (now === ours && before !== ours) await writeFile(path(key), before)
        } catch { /* the namespace may be gone */ }
      }
      saved.clear()
    }
  }
}
