/**
 * The rotation schedule of a WireGuard key across deploys (pure: a key name and a clock in, the
 * plan out). See docs/key-rotation.md for the protocol; this is its deploy-time half.
 *
 * A key is a sequence of *generations*, one per epoch of `maxAgeDays` days. Epochs are staggered
 * by an offset derived from the key's name, so the keys of a mesh do not all flip on the same
 * day. With `overlapDays` O and E the end of the current epoch:
 *
 * | window              | phase    | documents                                                  |
 * | ------------------- | -------- | ---------------------------------------------------------- |
 * | [E - O, E - O/2)    | `next`   | generation g+1 exists; peers list its public key as `nextPublicKey` |
 * | [E - O/2, E + O)    | `switch` | the gateway also holds g+1 (`nextPrivateKey`) and initiates with it |
 * | E + O               | retire   | g+1 becomes `privateKey` / `publicKey`; generation g is destroyed |
 *
 * Outside those windows the phase is `steady` (one generation). The epoch end E itself changes no
 * document: the switch goes on until the bounded window `E + O` (or until the deploy is told that
 * every peer reported the new key, `rotationComplete`), so a peer that is slow to poll still has
 * both keys. Every phase is at least O/2 days, which must hold several config polls and one deploy.
 */
import { createHash } from 'node:crypto';

/** Milliseconds in one UTC day. */
export const DAY_MS = 86_400_000;

/** Default maximum age of a key, in days. */
export const DEFAULT_MAX_KEY_AGE_DAYS = 90;

/** Default overlap window, in days: the next key exists this long before its epoch starts. */
export const DEFAULT_OVERLAP_DAYS = 7;

/** Where a key is in its rotation. */
export type RotationPhase = 'steady' | 'next' | 'switch';

/** The schedule of one key at one instant: what exists, what the documents say, what happens when. */
export interface KeyRotationPlan {
  /** The key's logical name (what the offset is derived from). */
  key: string;
  maxAgeDays: number;
  overlapDays: number;
  /** Days the key's epochs are shifted by (0 to maxAgeDays - 1). */
  offsetDays: number;
  phase: RotationPhase;
  /** The generation named as `privateKey` / `publicKey`. */
  current: number;
  /** The generation offered as `nextPrivateKey` / `nextPublicKey` (phases next and switch), else null. */
  next: number | null;
  /** The generation the gateway initiates with: `next` in phase switch, else `current`. */
  inUse: number;
  /** ISO 8601 instants of the coming (or running) rotation. */
  nextCreatedAt: string;
  switchAt: string;
  epochEnd: string;
  retireAt: string;
  /** One line for people: what rotates when. */
  summary: string;
}

function checkDays(what: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(`${what} must be a whole number of days from ${min} to ${max}, got ${String(value)}`);
  }
}

/** Checks an epoch length: a whole number of days from 1 to 3650. */
export function checkMaxAgeDays(maxAgeDays: number): void {
  checkDays('maxAgeDays', maxAgeDays, 1, 3650);
}

/** The default overlap of a key with epochs of `maxAgeDays`: 7 days, less for short epochs (it must stay under a quarter). */
export function defaultOverlapDays(maxAgeDays: number): number {
  return Math.max(0, Math.min(DEFAULT_OVERLAP_DAYS, Math.ceil(maxAgeDays / 4) - 1));
}

/** Checks `maxAgeDays` and `overlapDays` (each phase must be a day or more, two phases fit an epoch). */
export function checkRotationDays(maxAgeDays: number, overlapDays: number): void {
  checkMaxAgeDays(maxAgeDays);
  if (!Number.isInteger(overlapDays) || overlapDays < 0 || (overlapDays > 0 && 4 * overlapDays >= maxAgeDays)) {
    throw new Error(
      `overlapDays must be 0 or a whole number of days under maxAgeDays / 4 (${maxAgeDays} / 4), got ${String(overlapDays)}`,
    );
  }
}

/** `uint32be(sha256(name)[0..4]) mod maxAgeDays`: the same name always gets the same offset. */
export function rotationOffsetDays(name: string, maxAgeDays: number): number {
  checkMaxAgeDays(maxAgeDays);
  return createHash('sha256').update(name).digest().readUInt32BE(0) % maxAgeDays;
}

/** The first instant of epoch `index` (its generation's nominal start), in ms since 1970. */
export function epochStartMs(index: number, maxAgeDays: number, offsetDays: number): number {
  return (index * maxAgeDays + offsetDays) * DAY_MS;
}

/** The epoch containing `nowMs`. */
export function epochIndex(nowMs: number, maxAgeDays: number, offsetDays: number): number {
  return Math.floor((Math.floor(nowMs / DAY_MS) - offsetDays) / maxAgeDays);
}

/**
 * When generation `g` was (nominally) created: one overlap window before its epoch starts, so the
 * age read from it is an upper bound on the real one.
 */
export function generationCreatedAt(g: number, maxAgeDays: number, offsetDays: number, overlapDays: number): string {
  return new Date(epochStartMs(g, maxAgeDays, offsetDays) - overlapDays * DAY_MS).toISOString();
}

/**
 * The rotation plan of key `name` at `now`. `rotationComplete`: every peer reported the next key in
 * use (read from the agents' status before the deploy), which retires it at the epoch end instead
 * of the bounded window's end.
 */
export function keyRotationPlan(
  name: string,
  now: Date,
  maxAgeDays = DEFAULT_MAX_KEY_AGE_DAYS,
  overlapDays = DEFAULT_OVERLAP_DAYS,
  rotationComplete = false,
): KeyRotationPlan {
  checkRotationDays(maxAgeDays, overlapDays);
  const ms = now.getTime();
  if (!Number.isFinite(ms)) throw new Error('now() must return a valid Date');
  const offsetDays = rotationOffsetDays(name, maxAgeDays);
  const g = epochIndex(ms, maxAgeDays, offsetDays);
  const start = epochStartMs(g, maxAgeDays, offsetDays);
  const end = epochStartMs(g + 1, maxAgeDays, offsetDays);
  const overlap = overlapDays * DAY_MS;
  const iso = (t: number): string => new Date(t).toISOString();
  const schedule = (epochEnd: number) => ({
    nextCreatedAt: iso(epochEnd - overlap),
    switchAt: iso(epochEnd - overlap / 2),
    epochEnd: iso(epochEnd),
    retireAt: iso(epochEnd + overlap),
  });
  // The previous rotation is still retiring: generation g-1 stays privateKey until start + O.
  if (overlap > 0 && ms < start + overlap && !rotationComplete) {
    return plan('switch', g - 1, g, schedule(start));
  }
  if (overlap > 0 && ms >= end - overlap) {
    return plan(ms >= end - overlap / 2 ? 'switch' : 'next', g, g + 1, schedule(end));
  }
  return plan('steady', g, null, schedule(end));

  function plan(phase: RotationPhase, current: number, next: number | null, when: ReturnType<typeof schedule>) {
    const inUse = phase === 'switch' ? next! : current;
    const summary =
      overlap === 0
        ? `${name}: generation ${current} is replaced by the first deploy at or after ${when.epochEnd}`
        : phase === 'steady'
          ? `${name}: generation ${current} steady; generation ${current + 1} is created ${when.nextCreatedAt}, used from ${when.switchAt}, generation ${current} retired ${when.retireAt}`
          : phase === 'next'
            ? `${name}: generation ${next} offered to peers; the gateway switches to it ${when.switchAt}, generation ${current} retired ${when.retireAt}`
            : `${name}: switching to generation ${next}; generation ${current} retired ${when.retireAt}`;
    return { key: name, maxAgeDays, overlapDays, offsetDays, phase, current, next, inUse, ...when, summary };
  }
}
