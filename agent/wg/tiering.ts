/**
 * V8 tier-up for the data plane. Each packet calls the hot path once, so with V8's default
 * thresholds (Maglev after ~400 calls' worth of budget, TurboFan after ~3000) a fresh device runs
 * its first seconds of light traffic in the interpreter: ping at 200/s through a new tunnel took
 * ~1.5 s to reach steady latency. Starting at baseline (Sparkplug) code and optimizing with Maglev
 * after a few dozen packets moves that to the first packets. The flags are process-wide and only
 * change when functions are compiled, not what they compute.
 *
 * TurboFan keeps its default threshold: an early one (500) doubled the background compile CPU
 * during the first 300 pings (V8 helper threads ~22 against ~12 ms per process), and on a two-core
 * host those compiles take the core a woken data-plane thread needs. Bulk traffic reaches the
 * default threshold within milliseconds anyway.
 */
import { setFlagsFromString } from 'node:v8';

export const EARLY_TIER_UP_FLAGS = [
  '--always-sparkplug',
  '--invocation-count-for-maglev=50',
  '--minimum-invocations-after-ic-update=50',
];

let applied = false;

/** Applies EARLY_TIER_UP_FLAGS once per process: true from the call that applied them. */
export function tierUpEarly(): boolean {
  if (applied) return false;
  applied = true;
  for (const flag of EARLY_TIER_UP_FLAGS) setFlagsFromString(flag);
  return true;
}
