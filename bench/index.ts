/** `npm run bench`: every benchmark suite, one after another. */
import { formatTable, type BenchResult } from './harness';

interface Suite {
  title: string;
  run: () => Promise<BenchResult[]> | BenchResult[];
}

async function main(): Promise<void> {
  const suites: Suite[] = [];
  for (const suite of suites) console.log(formatTable(suite.title, await suite.run()));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
