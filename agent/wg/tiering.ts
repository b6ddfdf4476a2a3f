/**
 * V8 tier-up for the data plane. Each packet calls the hot path once, so with V8's default
 * thresholds (Maglev after ~400 calls' worth of budget, TurboFan after ~3000) a fresh device runs
 * its first seconds of light traffic in the interpreter: ping at 200/s through a new tunnel took
 * ~1.5 s to reach steady latency. Starting at baseline (Sparkplug) code and optimizing after a few
 * dozen packets moves that to the first packets. The flags are process-wide and only change when
 * functions are compiled, not what they compute.
 */
import { setFlagsFromString } from 'node:v8';

export const EARLY_TIER_UP_FLAGS = [
  '--always-sparkplug',
  '--invocation-count-for-maglev=50',
  '--invocation-count-for-turbofan=500',
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
