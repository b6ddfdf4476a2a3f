/** Small fixtures several test files share. */

/** A valid, distinct base64 WireGuard key per byte value (32 bytes of that value). */
export const testKey = (byte: number): string => Buffer.alloc(32, byte).toString('base64');

/** fast-check options: a failing property stops (shrinking included) instead of hanging the suite. */
export const BOUNDED = { interruptAfterTimeLimit: 15_000, markInterruptAsFailure: true };
