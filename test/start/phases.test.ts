// A start's laps: one clock for the controller and prebake-restore, each lap from the previous one's end.
import { describe, expect, it } from 'vitest';
import { formatPhases, PhaseClock } from '../../src/start/phases.ts';

const ms = (value: number) => BigInt(value * 1_000_000);

describe('a start phase clock', () => {
  it("laps the controller's steps and then prebake-restore's, from its notice", () => {
    const clock = new PhaseClock(ms(100));
    clock.lap('run dir', ms(101));
    clock.lapRestore({ spawnNs: ms(103), mainNs: ms(110), stagedNs: ms(111), criuExitNs: ms(141), noticeNs: ms(142) });
    expect(clock.phases.map((phase) => [phase.name.split(' ')[0], phase.ms])).toEqual([
      ['run', 1],
      ['restore', 2],
      ['prebake-restore', 7],
      ['staging', 1],
      ['criu', 30],
      ['hand-over', 1],
    ]);
  });

  it('adds nothing of a restore that sent no notice (criu failed), and never a negative lap', () => {
    const clock = new PhaseClock(ms(100));
    clock.lapRestore({ spawnNs: ms(103) });
    expect(clock.phases).toEqual([]);
    clock.lap('late', ms(90));
    expect(clock.phases).toEqual([{ name: 'late', ms: 0 }]);
  });

  it('prints one line per phase and their sum', () => {
    expect(
      formatPhases([
        { name: 'run dir', ms: 0.5 },
        { name: 'criu', ms: 20.25 },
      ]).split('\n'),
    ).toEqual([
      // Names padded to the longest, times right-aligned in 8 columns.
      `  ${'run dir'}  ${'    0.50'} ms`,
      `  ${'criu   '}  ${'   20.25'} ms`,
      `  ${'sum    '}  ${'   20.75'} ms`,
    ]);
  });
});
