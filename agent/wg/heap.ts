/**
 * Gives memory back to the system after a large configuration change. While a big `set` is
 * parsed and applied, everything it builds survives young-generation collections, so V8 grows the
 * young generation to its maximum (128 MB of semi-spaces on a large host) and keeps it, idle or
 * not: repeated full `wg setconf` of 10,000 peers left wiremesh-wg at ~280 MB RSS for ~25 MB of
 * live objects. V8's memory-reducing full collection (the one it runs before giving up on an
 * allocation, "last resort") shrinks the young generation and releases free pages.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** Changes with at least this many peers are followed by a memory-reducing collection. */
export const LARGE_CHANGE_PEERS = 1000;

type CollectGarbage = (options: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void;

let collect: CollectGarbage | undefined;

/** A full, memory-reducing garbage collection (tens of milliseconds for a 10,000-peer device). */
export function releaseMemory(): void {
  if (!collect) {
    // --expose-gc set at run time applies to contexts created afterwards: one is made to fetch gc().
    setFlagsFromString('--expose-gc');
    collect = runInNewContext('gc') as CollectGarbage;
  }
  collect({ type: 'major', execution: 'sync', flavor: 'last-resort' });
}
