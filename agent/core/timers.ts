/**
 * The per-peer timers of kernel src/timers.c and wireguard-go device/timers.go, kept as deadlines
 * (monotonic ms, null when not pending) so the sans-IO device can run them from any clock. The hooks
 * below are the kernel's wg_timers_* events, named and ordered as there; what an expired timer does
 * is the device's business (docs/protocol.md 1.7).
 */
import { randomUint32 } from '../crypto/primitives';
import { KEEPALIVE_TIMEOUT, REKEY_TIMEOUT, REKEY_TIMEOUT_JITTER_MAX, ZERO_KEY_MATERIAL_AFTER } from './constants';

/** The kernel's five timers, plus `rotateKey`: our retry of the next key during a key rotation. */
export type TimerName =
  'retransmitHandshake' | 'sendKeepalive' | 'newHandshake' | 'zeroKeyMaterial' | 'persistentKeepalive' | 'rotateKey';

export const TIMER_NAMES: readonly TimerName[] = [
  'retransmitHandshake',
  'sendKeepalive',
  'newHandshake',
  'zeroKeyMaterial',
  'persistentKeepalive',
  'rotateKey',
];

export type Deadlines = Record<TimerName, number | null>;

export function noDeadlines(): Deadlines {
  return {
    retransmitHandshake: null,
    sendKeepalive: null,
    newHandshake: null,
    zeroKeyMaterial: null,
    persistentKeepalive: null,
    rotateKey: null,
  };
}

/** The part of a peer the timers read and write. */
export interface TimerState {
  readonly deadlines: Deadlines;
  /** Seconds; 0 is off. */
  persistentKeepaliveInterval: number;
  handshakeAttempts: number;
  needAnotherKeepalive: boolean;
  sentLastMinuteHandshake: boolean;
  /** Wall-clock (Unix ms) of the last completed handshake; 0 = never. */
  lastHandshakeUnixMs: number;
}

/** Earliest pending deadline, or Infinity. */
export function earliestDeadline(state: TimerState): number {
  let earliest = Infinity;
  for (const name of TIMER_NAMES) {
    const at = state.deadlines[name];
    if (at !== null && at < earliest) earliest = at;
  }
  return earliest;
}

/**
 * Fires the timers due at `now`, in TIMER_NAMES order, each disarmed just before `fire` runs: firing
 * one may disarm or re-arm a later one (a handshake clears the keepalive), and that must be seen.
 * Allocates nothing: the device runs it for every peer on every tick, and per-peer garbage from
 * 10,000 idle peers made V8 keep growing its young generation.
 */
export function expireTimers<S extends TimerState>(
  state: S,
  now: number,
  fire: (state: S, name: TimerName, now: number) => void,
): void {
  for (let i = 0; i < TIMER_NAMES.length; i++) {
    const name = TIMER_NAMES[i]!;
    const at = state.deadlines[name];
    if (at !== null && at <= now) {
      state.deadlines[name] = null;
      fire(state, name, now);
    }
  }
}

/** 0..REKEY_TIMEOUT_JITTER_MAX-1 ms, so peers that lost packets together do not retry together. */
export function jitter(): number {
  return randomUint32() % REKEY_TIMEOUT_JITTER_MAX;
}

export function onHandshakeInitiated(state: TimerState, now: number): void {
  state.deadlines.retransmitHandshake = now + REKEY_TIMEOUT + jitter();
}

export function onHandshakeComplete(state: TimerState, unixMs: number): void {
  state.deadlines.retransmitHandshake = null;
  state.handshakeAttempts = 0;
  state.sentLastMinuteHandshake = false;
  state.lastHandshakeUnixMs = unixMs;
}

export function onSessionDerived(state: TimerState, now: number): void {
  state.deadlines.zeroKeyMaterial = now + ZERO_KEY_MATERIAL_AFTER;
}

export function onDataSent(state: TimerState, now: number): void {
  if (state.deadlines.newHandshake === null) {
    state.deadlines.newHandshake = now + KEEPALIVE_TIMEOUT + REKEY_TIMEOUT + jitter();
  }
}

export function onDataReceived(state: TimerState, now: number): void {
  if (state.deadlines.sendKeepalive === null) state.deadlines.sendKeepalive = now + KEEPALIVE_TIMEOUT;
  else state.needAnotherKeepalive = true;
}

export function onAuthenticatedPacketSent(state: TimerState): void {
  state.deadlines.sendKeepalive = null;
}

export function onAuthenticatedPacketReceived(state: TimerState): void {
  state.deadlines.newHandshake = null;
}

export function onAuthenticatedPacketTraversal(state: TimerState, now: number): void {
  if (state.persistentKeepaliveInterval > 0) {
    state.deadlines.persistentKeepalive = now + state.persistentKeepaliveInterval * 1000;
  }
}
