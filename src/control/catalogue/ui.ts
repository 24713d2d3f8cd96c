/**
 * The status page's control method (`ui.login`), what `dmsnet ui` calls. Handler:
 * src/daemon/features/ui.ts.
 */
import { z } from 'zod'
import { NotStartedError } from '../../errors.js'
import { unary } from '../spec.js'

export const login = unary('ui.login', {
  description: 'a one-time login link to the status page (valid for 2 minutes)',
  result: () => z.object({
    /** Open this once: it logs the browser in and leads to the page. */
    url: z.string(),
    /** The page's address (needs a session: open `url` first). */
    origin: z.string(),
    expiresAt: z.number()
  }),
  errors: [NotStartedError]
})

export type UiLogin = z.output<typeof login.result>
