/**
 * Records every module URL resolved from the call on (a module resolve hook), for tests that check
 * what a feature has loaded (test/daemon/*-lazy.spec.ts). Call it before importing the code under
 * test: import that code dynamically afterwards, since static imports resolve first.
 */
import { registerHooks } from 'node:module'

export function trackResolvedModules (): { urls: () => string[] } {
  const resolved = new Set<string>()
  registerHooks({
    resolve (specifier, context, next) {
      const r = next(specifier, context)
      resolved.add(r.url)
      return r
    }
  })
  return { urls: () => [...resolved] }
}
