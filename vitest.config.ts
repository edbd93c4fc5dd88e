import { defineConfig } from 'vitest/config';
import { LongestFirst } from './test/longest-first.ts';

// Tests that need neither criu nor a runtime instance: seconds, for quick loops (`npm run test:unit`).
// Everything else is a system test (real criu, real runtimes, real servers). CI runs both projects.
const UNIT = [
  'test/errors.test.ts',
  'test/files/mountinfo.test.ts',
  'test/cli/{hints,options}.test.ts',
  'test/bundle/fingerprint.test.ts',
  'test/registry/reference.test.ts',
  'test/bench/{chart,progress,run,stats}.test.ts',
  'test/bake/{shared-state,progress}.test.ts',
  'test/criu/{check-verdict,privileges}.test.ts',
  'test/deploy/*.test.ts',
  'test/functions/generated.test.ts',
  'test/instance/*.test.ts',
  'test/lambda/{errors,function-config,sigv4,zip}.test.ts',
  'test/launch/{reachable,spawn,host-ids}.test.ts',
  'test/manager/{build-queue,config,limiter,pool-size,warm-pool}.test.ts',
  'test/manifest/load.test.ts',
  'test/server/token.test.ts',
  'test/start/phases.test.ts',
];

export default defineConfig({
  test: {
    // Real criu, real runtimes: builds take seconds, and the machine has two cores.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // A worker runs its files one after the other in one module graph instead of importing it afresh for each
    // (about 1.2 s of CPU per file, /usr/bin/time on this 2-vCPU VM: 35 system files took 163.5 s of CPU isolated
    // and 122.7 s not; the 33 unit files 22.0 s and 8.1 s). So a test file leaves no module state behind: every
    // file makes its own sandbox, home and servers, and one that stubs the environment unstubs it.
    isolate: false,
    // Three files at once on two cores: a whole-suite run kept 1.6 of the 2 cores busy with two (criu, runtimes
    // and servers wait on one another); with three, all 603 tests passed in 531 s against 546 s for 569 with two.
    maxWorkers: 3,
    sequence: { sequencer: LongestFirst },
    projects: [
      { extends: true, test: { name: 'unit', include: UNIT } },
      { extends: true, test: { name: 'system', include: ['test/**/*.test.ts'], exclude: UNIT } },
    ],
  },
});
