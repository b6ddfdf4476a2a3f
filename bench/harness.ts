/**
 * A tiny micro-benchmark harness: runs an operation in rounds after a warm-up, keeps the median
 * round, and reports operations per second and microseconds per operation. Figures belong in
 * `npm run bench` output, never in test assertions.
 */
import { performance } from 'node:perf_hooks';

export interface BenchResult {
  name: string;
  opsPerSecond: number;
  microsPerOp: number;
  note?: string;
}

export interface BenchOptions {
  rounds?: number;
  roundMs?: number;
  /** Operations per timed batch, for operations too fast to time one at a time. */
  batch?: number;
}

export function measure(name: string, operation: () => void, options: BenchOptions = {}): BenchResult {
  const rounds = options.rounds ?? 7;
  const roundMs = options.roundMs ?? 200;
  const batch = options.batch ?? 1;
  const warmUntil = performance.now() + roundMs;
  while (performance.now() < warmUntil) for (let i = 0; i < batch; i++) operation();
  const perOp: number[] = [];
  for (let r = 0; r < rounds; r++) {
    let ops = 0;
    const start = performance.now();
    let elapsed = 0;
    while (elapsed < roundMs) {
      for (let i = 0; i < batch; i++) operation();
      ops += batch;
      elapsed = performance.now() - start;
    }
    perOp.push((elapsed * 1000) / ops);
  }
  perOp.sort((a, b) => a - b);
  const median = perOp[Math.floor(perOp.length / 2)]!;
  return { name, microsPerOp: median, opsPerSecond: 1e6 / median };
}

export function formatTable(title: string, results: BenchResult[]): string {
  const width = Math.max(...results.map((r) => r.name.length), 10);
  const lines = [`\n${title}`, `${'operation'.padEnd(width)}  ${'ops/s'.padStart(12)}  ${'us/op'.padStart(10)}  note`];
  for (const r of results) {
    lines.push(
      `${r.name.padEnd(width)}  ${Math.round(r.opsPerSecond).toLocaleString('en-US').padStart(12)}  ` +
        `${r.microsPerOp.toFixed(3).padStart(10)}  ${r.note ?? ''}`,
    );
  }
  return lines.join('\n');
}
