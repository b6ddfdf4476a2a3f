/** `npm run bench`: every benchmark suite, one after another. */
import { runAllowedIpsBench } from './allowedips';
import { runDataplaneBench } from './dataplane';
import { formatTable, type BenchResult } from './harness';
import { runPlannerBench } from './planner';
import { runProtocolBench } from './protocol';
import { runSetconfMemoryBench } from './setconf-memory';

interface Suite {
  title: string;
  run: () => Promise<BenchResult[]> | BenchResult[];
}

async function main(): Promise<void> {
  const suites: Suite[] = [
    { title: 'Protocol core (one thread, no I/O)', run: runProtocolBench },
    { title: 'Allowed IPs (100k prefixes per family)', run: runAllowedIpsBench },
    { title: 'Mesh planner (10,000-site hub-and-spoke, 200-site full mesh)', run: runPlannerBench },
  ];
  for (const suite of suites) console.log(formatTable(suite.title, await suite.run()));
  // Real tunnels between network namespaces (root, wireguard-go and iperf3 needed; skipped otherwise).
  console.log((await runDataplaneBench()).text);
  console.log(await runSetconfMemoryBench());
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
