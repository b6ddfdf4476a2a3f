/**
 * `npm run lab:boot [-- --example aws-gcp|hub-spoke-ha|existing-vpc] [--artifacts DIR] [--rotation] [--failover]`:
 * boots the example's gateways end to end (lab.ts), checks the mesh (checks.ts) and prints the
 * timings per step; with --rotation, also rotates every key through its phases (one deploy per
 * phase, lab/boot/rotation.ts) while pinging across the sites; with
 * --failover (hub-spoke-ha), the seconds without traffic when the group's active gateway dies.
 */
import { parseArgs } from 'node:util';
import { isRoot } from '../netns';
import { EXAMPLES, type ExampleName } from './deployment';
import { BootLab } from './lab';
import { checkMesh, measureFailover, meshProblems } from './checks';
import { measureRotationWalk } from './rotation';

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      example: { type: 'string', default: 'aws-gcp' },
      artifacts: { type: 'string', default: 'artifacts/lab-boot' },
      rotation: { type: 'boolean', default: false },
      failover: { type: 'boolean', default: false },
    },
  });
  if (!isRoot()) {
    console.error('lab:boot needs root (network namespaces, overlay mounts, systemd-nspawn): skipped');
    return 0;
  }
  if (!EXAMPLES.includes(values.example as ExampleName)) {
    console.error(`--example must be one of ${EXAMPLES.join(', ')}`);
    return 2;
  }
  const lab = new BootLab({ example: values.example as ExampleName, artifactsDirectory: values.artifacts });
  const stop = () => void lab.stop().finally(() => process.exit(130));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    await lab.start();
    const report = await checkMesh(lab);
    const problems = meshProblems(lab, report);
    console.log(
      JSON.stringify(
        { timings: lab.timings, gateways: lab.gateways.map((g) => g.timings), checks: report, problems },
        null,
        2,
      ),
    );
    if (problems.length > 0) {
      console.error(`lab:boot: ${problems.length} check(s) failed:\n  ${problems.join('\n  ')}`);
      return 1;
    }
    if (values.rotation) console.log(JSON.stringify({ rotation: await measureRotationWalk(lab) }, null, 2));
    if (values.failover) console.log(JSON.stringify({ failover: await measureFailover(lab) }, null, 2));
    return 0;
  } catch (error) {
    console.error(String((error as Error).message ?? error));
    return 1;
  } finally {
    await lab.stop();
  }
}

main().then((code) => process.exit(code));
