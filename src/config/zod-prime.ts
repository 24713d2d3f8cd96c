/**
 * Builds one tiny zod schema of every kind dmsnet uses, once, before any real schema (issue 10).
 * Imported first by src/config/schema.ts and src/control/spec.ts.
 *
 * Why: zod installs the lazily derived members of each schema kind (`shape`, `values`, `optin`,
 * ...) as getters on the kind's shared prototype, with closures made while building the first
 * schema of that kind, so the first schema of each kind stays reachable for the life of the
 * process. Without this, that is the whole config schema (the first pipe, the first objects): ~600
 * zod objects, ~0.9 MB, that `configSchema()` being a function was meant to free. With it, the
 * schemas kept are these few.
 */
import { z } from 'zod'

const primer = z.strictObject({
  s: z.string().min(1).max(2).regex(/a/).refine(() => true).default('a'),
  n: z.number().int().positive().nonnegative().min(0).max(1).optional().default(0),
  b: z.boolean().nullable().optional(),
  e: z.enum(['a']).default('a'),
  a: z.array(z.string()).min(0).max(1).default([]),
  o: z.object({}).prefault({}),
  l: z.literal('a').optional(),
  u: z.union([z.string(), z.number()]).optional(),
  d: z.discriminatedUnion('k', [z.object({ k: z.literal('a') })]).optional(),
  r: z.record(z.string(), z.unknown()).optional(),
  c: z.custom<unknown>(() => true).meta({ description: 'a' }).optional(),
  x: z.object({}).extend({ y: z.string().optional() }).optional()
}).prefault({}).transform(v => v)
primer.safeParse({})
