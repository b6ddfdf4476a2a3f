/**
 * Child process of the boot lab: `deployment-main.ts EXAMPLE AGENT_ARTIFACT CLOCK_OFFSET_MS OUT_FILE`
 * runs the example under mocks with the packed agent tarball AGENT_ARTIFACT and the clock moved by
 * CLOCK_OFFSET_MS, and writes the deployment (secret values included) to OUT_FILE, mode 0600.
 */
import { writeFileSync } from 'node:fs';
import { deployExample, EXAMPLES, type ExampleName } from './deployment';

const [example, agentArtifact, offset, out] = process.argv.slice(2);
if (!EXAMPLES.includes(example as ExampleName) || !agentArtifact || !out || !Number.isFinite(Number(offset))) {
  console.error('usage: deployment-main.ts EXAMPLE AGENT_ARTIFACT CLOCK_OFFSET_MS OUT_FILE');
  process.exit(2);
}
shiftClock(Number(offset));
deployExample(example as ExampleName, agentArtifact).then(
  (deployment) => writeFileSync(out, JSON.stringify(deployment), { mode: 0o600 }),
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
