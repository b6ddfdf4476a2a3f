/**
 * Protocol constants (kernel src/messages.h, wireguard-go device/constants.go); see
 * docs/protocol.md 1.6. Times are in milliseconds.
 */
export const REKEY_AFTER_MESSAGES = 1n << 60n;
export const REJECT_AFTER_MESSAGES = (1n << 64n) - (1n << 13n) - 1n;
export const REKEY_AFTER_TIME = 120_000;
export const REJECT_AFTER_TIME = 180_000;
export const REKEY_ATTEMPT_TIME = 90_000;
export const REKEY_TIMEOUT = 5_000;
export const REKEY_TIMEOUT_JITTER_MAX = 334;
export const KEEPALIVE_TIMEOUT = 10_000;
export const MAX_TIMER_HANDSHAKES = REKEY_ATTEMPT_TIME / REKEY_TIMEOUT;
export const ZERO_KEY_MATERIAL_AFTER = 3 * REJECT_AFTER_TIME;
/** Initiator-side rekey on receive, once per session: 180 - 10 - 5 = 165 s. */
export const REKEY_ON_RECEIVE_AGE = REJECT_AFTER_TIME - KEEPALIVE_TIMEOUT - REKEY_TIMEOUT;
const INITIATIONS_PER_SECOND = 50;
export const MIN_INITIATION_INTERVAL = 1000 / INITIATIONS_PER_SECOND;
export const COOKIE_SECRET_MAX_AGE = 120_000;
export const COOKIE_SECRET_LATENCY = 5_000;
export const MAX_STAGED_PACKETS = 128;
/** The window the kernel and wireguard-go accept (COUNTER_BITS_TOTAL 8192 minus one 64-bit word). */
export const REPLAY_WINDOW_SIZE = 8128;
/** Under-load mode stays on this long after the last detection. */
export const UNDER_LOAD_HOLD = 1_000;
