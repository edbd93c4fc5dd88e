// Where a start's time goes, phase by phase, for `prebake invoke --timing --verbose` (issue 23: on a host where
// memory is expensive, a prebaked start took 130-260 ms of which criu's restore log showed under 100).
// One clock for the controller and native/prebake-restore: CLOCK_MONOTONIC, which process.hrtime reads.
import type { RestoreTimeline } from '../criu/criu.ts';

export interface StartPhase {
  name: string;
  ms: number;
}

export class PhaseClock {
  readonly phases: StartPhase[] = [];
  private last: bigint;

  constructor(start: bigint = process.hrtime.bigint()) {
    this.last = start;
  }

  /** Records the time from the previous lap until `at` (now by default) as `name`. */
  lap(name: string, at: bigint = process.hrtime.bigint()): void {
    this.phases.push({ name, ms: Math.max(0, Number(at - this.last) / 1e6) });
    if (at > this.last) this.last = at;
  }

  /** The laps of a restore, from what prebake-restore told of its own (nothing when it told nothing: a failure). */
  lapRestore(timeline: RestoreTimeline): void {
    const { spawnNs, mainNs, stagedNs, criuExitNs, noticeNs } = timeline;
    if (mainNs === undefined || stagedNs === undefined || criuExitNs === undefined || noticeNs === undefined) return;
    this.lap('restore prep (criu args, kdat, spawn call)', spawnNs);
    this.lap('prebake-restore exec', mainNs);
    this.lap('staging (mount namespace, binds, /tmp)', stagedNs);
    this.lap('criu (exec, restore, detach)', criuExitNs);
    this.lap('hand-over (notice to the controller)', noticeNs);
  }
}

/** The phases as lines for people, with their sum. */
export function formatPhases(phases: StartPhase[]): string {
  const width = Math.max(...phases.map((phase) => phase.name.length));
  const total = phases.reduce((sum, phase) => sum + phase.ms, 0);
  return [...phases, { name: 'sum', ms: total }]
    .map((phase) => `  ${phase.name.padEnd(width)}  ${phase.ms.toFixed(2).padStart(8)} ms`)
    .join('\n');
}
