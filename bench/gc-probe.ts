/**
 * Preloaded into wiremesh-wg by the data-plane bench (NODE_OPTIONS=--require, which also runs in
 * its worker threads): counts each thread's GC pauses and writes them to
 * WIREMESH_BENCH_GC_DIR/<pid>-<threadId>.json every second and when the thread or process exits.
 */
import { writeFileSync } from 'node:fs';
import { PerformanceObserver } from 'node:perf_hooks';
import { threadId } from 'node:worker_threads';

const pauses = { count: 0, totalMs: 0, maxMs: 0 };
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    pauses.count++;
    pauses.totalMs += entry.duration;
    pauses.maxMs = Math.max(pauses.maxMs, entry.duration);
  }
}).observe({ entryTypes: ['gc'] });

function save(): void {
  const directory = process.env.WIREMESH_BENCH_GC_DIR;
  if (directory) writeFileSync(`${directory}/${process.pid}-${threadId}.json`, JSON.stringify(pauses));
}
// Also every second: a worker thread that is terminated runs no exit handlers.
setInterval(save, 1000).unref();
process.on('exit', save);
