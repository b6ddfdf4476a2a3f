/**
 * Child process of the boot lab:
 * `deployment-main.ts EXAMPLE AGENT_ARTIFACT CLOCK_OFFSET_MS OUT_FILE STATE_FILE` runs the example
 * under mocks with the packed agent tarball AGENT_ARTIFACT and the clock moved by CLOCK_OFFSET_MS,
 * as the next deploy of the stack whose state STATE_FILE holds (none yet: the first deploy), writes
 * the deployment (secret values included) to OUT_FILE and the stack's new state to STATE_FILE,
 * both mode 0600.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { ProgramRuns, type ProgramRunsState } from '../../components/program-runs';
import { deployExample, EXAMPLES, type ExampleName } from './deployment';

const [example, agentArtifact, offset, out, stateFile] = process.argv.slice(2);
if (
  !EXAMPLES.includes(example as ExampleName) ||
  !agentArtifact ||
  !out ||
  !stateFile ||
  !Number.isFinite(Number(offset))
) {
  console.error('usage: deployment-main.ts EXAMPLE AGENT_ARTIFACT CLOCK_OFFSET_MS OUT_FILE STATE_FILE');
  process.exit(2);
}
shiftClock(Number(offset));
const runs = new ProgramRuns(
  existsSync(stateFile) ? (JSON.parse(readFileSync(stateFile, 'utf8')) as ProgramRunsState) : undefined,
);
deployExample(example as ExampleName, agentArtifact, runs).then(
  (deployment) => {
    writeFileSync(out, JSON.stringify(deployment), { mode: 0o600 });
    writeFileSync(stateFile, JSON.stringify(runs.saved()), { mode: 0o600 });
  },
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);

/** Moves `new Date()` and `Date.now()` by `offsetMs` for everything loaded after this. */
function shiftClock(offsetMs: number): void {
  if (offsetMs === 0) return;
  const RealDate = Date;
  class ShiftedDate extends RealDate {
    constructor(...args: unknown[]) {
      if (args.length === 0) super(RealDate.now() + offsetMs);
      else super(...(args as [string]));
    }
    static override now(): number {
      return RealDate.now() + offsetMs;
    }
  }
  globalThis.Date = ShiftedDate as DateConstructor;
}
