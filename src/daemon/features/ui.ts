/**
 * The `ui` plug-in: serves the status page (src/ui/server.ts) while the daemon runs and implements
 * the control method `ui.login`, which hands out a one-time login link. Asking the daemon over its
 * control socket (token required) is what puts the page behind the control token.
 */
import type { MethodRegistry } from '../../control/registry.js'
import { ui as api, type UiLogin } from '../../control/catalogue/index.js'
import { NotStartedError } from '../../errors.js'
import type { ModuleFactory, NodeModule } from '../module.js'
import { startEventFeed, type EventFeed } from '../../ui/feed.js'
import { createSessionStore } from '../../ui/sessions.js'
import { startUiServer, type UiServer } from '../../ui/server.js'

export type { UiLogin }

export interface UiModule extends NodeModule {
  /** e.g. http://127.0.0.1:41327 while running */
  readonly origin: string | undefined
  /** A new one-time login link. */
  login: () => UiLogin
}

export const uiModule: ModuleFactory = ({ config, logger }) => {
  if (!config.ui.enabled) return undefined
  const log = logger('ui')
  const sessions = createSessionStore()
  let server: UiServer | undefined
  let registry: MethodRegistry | undefined
  let feed: EventFeed | undefined
  const off: Array<() => void> = []

  const login = (): UiLogin => {
    if (server == null) throw new NotStartedError('the status page is not running')
    const { code, expiresAt } = sessions.issueCode()
    return { url: `${server.origin}/login?code=${code}`, origin: server.origin, expiresAt }
  }

  const mod: UiModule = {
    name: 'ui',
    async start () {
      server = await startUiServer({ host: config.ui.host, port: config.ui.port, sessions, registry: () => registry, feed: () => feed })
      log.info({ origin: server.origin }, 'status page listening (run `dmsnet ui` for a login link)')
    },
    async stop () {
      for (const fn of off.splice(0)) fn()
      registry = undefined
      feed?.stop()
      feed = undefined
      await server?.stop()
      server = undefined
    },
    registerControl (reg) {
      registry = reg
      feed = startEventFeed(reg, { onError: err => { log.warn({ err }, 'status page event feed stopped') } })
      off.push(reg.implement(api.login, () => login()))
    },
    get origin () { return server?.origin },
    status: () => ({ origin: server?.origin ?? null, sessions: sessions.sessions }),
    login
  }
  return mod
}
