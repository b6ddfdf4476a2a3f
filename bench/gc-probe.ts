/**
 * Preloaded into wiremesh-wg by the data-plane bench (NODE_OPTIONS=--require): counts the process's
 * GC pauses and writes them to WIREMESH_BENCH_GC_DIR/<pid>.json when it exits.
 */
import { writeFileSync } from 'node:fs';
import { PerformanceObserver } from 'node:perf_hooks';

const pauses = { count: 0, totalMs: 0, maxMs: 0 };
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    pauses.count++;
    pauses.totalMs += entry.duration;
    pauses.maxMs = Math.max(pauses.maxMs, entry.duration);
  }
}).observe({ entryTypes: ['gc'] });

process.on('exit', () => {
  const directory = process.env.WIREMESH_BENCH_GC_DIR;
  if (directory) writeFileSync(`${directory}/${process.pid}.json`, JSON.stringify(pauses));
});
