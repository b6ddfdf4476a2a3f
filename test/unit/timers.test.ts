import {
  KEEPALIVE_TIMEOUT,
  REKEY_TIMEOUT,
  REKEY_TIMEOUT_JITTER_MAX,
  ZERO_KEY_MATERIAL_AFTER,
} from '../../agent/core/constants';
import * as timers from '../../agent/core/timers';

function state(overrides: Partial<timers.TimerState> = {}): timers.TimerState {
  return {
    deadlines: timers.noDeadlines(),
    persistentKeepaliveInterval: 0,
    handshakeAttempts: 0,
    needAnotherKeepalive: false,
    sentLastMinuteHandshake: false,
    lastHandshakeUnixMs: 0,
    ...overrides,
  };
}

describe('peer timers (kernel src/timers.c)', () => {
  it('arms the retransmit timer REKEY_TIMEOUT plus jitter after an initiation', () => {
    for (let i = 0; i < 50; i++) {
      const s = state();
      timers.onHandshakeInitiated(s, 1000);
      const at = s.deadlines.retransmitHandshake!;
      expect(at).toBeGreaterThanOrEqual(1000 + REKEY_TIMEOUT);
      expect(at).toBeLessThan(1000 + REKEY_TIMEOUT + REKEY_TIMEOUT_JITTER_MAX);
    }
  });

  it('a completed handshake disarms the retransmit timer and resets the attempt count', () => {
    const s = state({ handshakeAttempts: 3, sentLastMinuteHandshake: true });
    timers.onHandshakeInitiated(s, 0);
    timers.onHandshakeComplete(s, 42);
    expect(s.deadlines.retransmitHandshake).toBeNull();
    expect(s).toMatchObject({ handshakeAttempts: 0, sentLastMinuteHandshake: false, lastHandshakeUnixMs: 42 });
  });

  it('schedules key erasure ZERO_KEY_MATERIAL_AFTER a session is derived', () => {
    const s = state();
    timers.onSessionDerived(s, 5);
    expect(s.deadlines.zeroKeyMaterial).toBe(5 + ZERO_KEY_MATERIAL_AFTER);
  });

  it('data sent arms a new handshake once; an authenticated packet received disarms it', () => {
    const s = state();
    timers.onDataSent(s, 0);
    const first = s.deadlines.newHandshake!;
    expect(first).toBeGreaterThanOrEqual(KEEPALIVE_TIMEOUT + REKEY_TIMEOUT);
    timers.onDataSent(s, 500);
    expect(s.deadlines.newHandshake).toBe(first);
    timers.onAuthenticatedPacketReceived(s);
    expect(s.deadlines.newHandshake).toBeNull();
  });

  it('data received arms a keepalive, or asks for another one while it is pending', () => {
    const s = state();
    timers.onDataReceived(s, 100);
    expect(s.deadlines.sendKeepalive).toBe(100 + KEEPALIVE_TIMEOUT);
    timers.onDataReceived(s, 200);
    expect(s.needAnotherKeepalive).toBe(true);
    timers.onAuthenticatedPacketSent(s);
    expect(s.deadlines.sendKeepalive).toBeNull();
  });

  it('persistent keepalive follows any authenticated traversal, only when configured', () => {
    const off = state();
    timers.onAuthenticatedPacketTraversal(off, 0);
    expect(off.deadlines.persistentKeepalive).toBeNull();
    const on = state({ persistentKeepaliveInterval: 25 });
    timers.onAuthenticatedPacketTraversal(on, 1000);
    expect(on.deadlines.persistentKeepalive).toBe(26_000);
  });

  it('reports the earliest deadline and fires due timers in order, disarming each', () => {
    const s = state();
    expect(timers.earliestDeadline(s)).toBe(Infinity);
    s.deadlines.zeroKeyMaterial = 30;
    s.deadlines.sendKeepalive = 10;
    s.deadlines.rotateKey = 99;
    expect(timers.earliestDeadline(s)).toBe(10);
    const fired: string[] = [];
    timers.expireTimers(s, 50, (_, name) => fired.push(name));
    expect(fired).toEqual(['sendKeepalive', 'zeroKeyMaterial']);
    expect(s.deadlines).toMatchObject({ sendKeepalive: null, zeroKeyMaterial: null, rotateKey: 99 });
  });

  it('sees a later timer disarmed by an earlier one firing', () => {
    const s = state();
    s.deadlines.retransmitHandshake = 1;
    s.deadlines.sendKeepalive = 1;
    const fired: string[] = [];
    timers.expireTimers(s, 10, (state, name) => {
      fired.push(name);
      timers.onAuthenticatedPacketSent(state); // what sending an initiation does
    });
    expect(fired).toEqual(['retransmitHandshake']);
  });
});
