/** `npm run bench`: every benchmark suite, one after another. */
import { runAeadBench } from './aead';
import { runAllowedIpsBench } from './allowedips';
import { runCookieBench } from './cookie';
import { runDataplaneBench } from './dataplane';
import { runFloodBench } from './flood';
import { formatTable, type BenchResult } from './harness';
import { runMemoryBench } from './memory';
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
    { title: 'Handshake flood: cost per rejected packet (one thread, no I/O)', run: runCookieBench },
    { title: 'Allowed IPs (100k prefixes per family)', run: runAllowedIpsBench },
    {
      title: 'Transport AEAD per packet: sodium-native per call vs batched OpenSSL EVP (native layer)',
      run: runAeadBench,
    },
    { title: 'Mesh planner (10,000-site hub-and-spoke, 200-site full mesh)', run: runPlannerBench },
  ];
  for (const suite of suites) console.log(formatTable(suite.title, await suite.run()));
  // Real tunnels between network namespaces (root, wireguard-go and iperf3 needed; skipped otherwise).
  console.log((await runDataplaneBench()).text);
  // Idle RSS of the agent beside wireguard-go (root, wireguard-go and wg needed; skipped otherwise).
  console.log(await runMemoryBench());
  // Handshake floods against each implementation (root, wireguard-go needed; skipped otherwise).
  console.log(await runFloodBench());
  // RSS of wiremesh-wg beside wireguard-go through repeated setconf of 10,000 peers (root needed).
  console.log(await runSetconfMemoryBench());
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
