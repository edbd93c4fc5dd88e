// What GET /functions says of a function declared by reference: enough for a fleet to compare daemons (the
// reference as declared and the digest each one runs).
import { type Static, Type } from '@sinclair/typebox';

export const DECLARED_STATUSES = ['current', 'pulling', 'rebuilding', 'failed', 'removing'] as const;
export type DeclaredStatusName = (typeof DECLARED_STATUSES)[number];

export const DeclaredStatusSchema = Type.Object({
  name: Type.String(),
  /** The reference as the config declares it. */
  bundle: Type.String(),
  /** The manifest digest of the bundle this daemon runs; null until one was pulled. */
  digest: Type.Union([Type.String({ pattern: '^sha256:[0-9a-f]{64}$' }), Type.Null()]),
  /**
   * current: runs what the reference names (prebaked); pulling: a new digest is on its way (the previous one
   * serves); rebuilding: the bundle was made on an incompatible host and is rebuilt here (plain starts serve
   * meanwhile); failed: see error (the previous version, if any, serves); removing: left the config, waits for
   * its invocations in flight.
   */
  status: Type.Union(DECLARED_STATUSES.map((s) => Type.Literal(s))),
  error: Type.Optional(Type.Object({ code: Type.String(), message: Type.String() })),
  /** When the status last changed. */
  since: Type.String({ format: 'date-time' }),
  /** When a failed reference is tried again (backoff). */
  retryAt: Type.Optional(Type.String({ format: 'date-time' })),
});
export type DeclaredStatus = Static<typeof DeclaredStatusSchema>;

export const ConfigStatusSchema = Type.Object({
  /** The watched config file, when the daemon has one. */
  file: Type.Optional(Type.String()),
  /** When the config in force was read. */
  loadedAt: Type.String({ format: 'date-time' }),
  /** Why the last reload was refused (the config in force stays). */
  error: Type.Optional(Type.Object({ code: Type.String(), message: Type.String(), at: Type.String({ format: 'date-time' }) })),
});
export type ConfigStatus = Static<typeof ConfigStatusSchema>;
