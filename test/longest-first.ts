// Runs the test files longest first (seconds each took in a whole-suite run, test/durations.json; a new file
// counts as the median), so that no long file starts last on a worker while the others sit idle: on this VM's
// two cores that tail was over a minute of the suite's wall time. Refresh durations.json after large changes:
// `npx vitest run --reporter=json --outputFile=/tmp/v.json`, then keep each file's duration in seconds.
import path from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';
import durations from './durations.json' with { type: 'json' };

const known: Record<string, number> = durations;
const sorted = Object.values(known).sort((a, b) => a - b);
const median = sorted[Math.floor(sorted.length / 2)] ?? 0;

export class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const seconds = (file: TestSpecification) => known[path.relative(this.ctx.config.root, file.moduleId)] ?? median;
    return [...files].sort((a, b) => seconds(b) - seconds(a));
  }
}
