// Metrics of the functions declared by reference (src/fleet): how many are in each status, and the reconciles,
// rebuilds and config reloads that worked or failed.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { FleetObserver } from '../fleet/reconciler.ts';
import { DECLARED_STATUSES, type DeclaredStatus } from '../fleet/status.ts';

export function declaredMetrics(registry: Registry, statuses: () => DeclaredStatus[]): FleetObserver {
  const registers = [registry];
  new Gauge({
    name: 'prebake_declared_functions',
    help: 'Functions declared by reference, by status (current, pulling, rebuilding, failed, removing)',
    labelNames: ['status'] as const,
    registers,
    collect() {
      const counts = new Map<string, number>(DECLARED_STATUSES.map((status) => [status, 0]));
      for (const { status } of statuses()) counts.set(status, (counts.get(status) ?? 0) + 1);
      for (const [status, count] of counts) this.set({ status }, count);
    },
  });
  const reconciles = new Counter({
    name: 'prebake_declared_reconciles_total',
    help: 'Declared references brought in (ok: a new digest pulled) or not (failed: registry, tag, bundle, name), by function',
    labelNames: ['function', 'outcome'] as const,
    registers,
  });
  const rebuilds = new Counter({
    name: 'prebake_declared_rebuilds_total',
    help: 'Rebuilds here of declared bundles made on an incompatible host, by function and outcome',
    labelNames: ['function', 'outcome'] as const,
    registers,
  });
  const reloads = new Counter({
    name: 'prebake_config_reloads_total',
    help: 'Reloads of the config file (a change, SIGHUP) by outcome (ok, refused: the config in force stays)',
    labelNames: ['outcome'] as const,
    registers,
  });
  const outcome = (ok: boolean) => (ok ? 'ok' : 'failed');
  return {
    reconcile: (event) => reconciles.inc({ function: event.functionName, outcome: outcome(event.ok) }),
    rebuild: (event) => rebuilds.inc({ function: event.functionName, outcome: outcome(event.ok) }),
    reload: (event) => reloads.inc({ outcome: event.ok ? 'ok' : 'refused' }),
  };
}
