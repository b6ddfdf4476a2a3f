/** The scheduled switch (agent/gateway/switch-schedule.ts): what a document says at an instant. */
import { configAt, nextSwitchAt, PEER_SWITCH_LAG_MS as LAG } from '../../agent/gateway/switch-schedule';
import { planChange, isEmptyChange } from '../../agent/gateway/diff';
import { bytes, resolvedConfig, resolvedPeer } from '../support/resolved-config';

const T = Date.parse('2026-12-07T12:00:00Z');
/** A gateway in phase next of its own rotation (switch at T) whose peer 2 rotates too (at T + 1 h). */
const document = resolvedConfig(
  [resolvedPeer(2, { nextPublicKey: bytes(12), switchAtUnixMs: T + 3_600_000 }), resolvedPeer(3)],
  { nextPrivateKey: bytes(11), switchAtUnixMs: T },
);

describe('configAt', () => {
  it('before the switch, holds the next private key back and keeps the peer on its current key', () => {
    const now = configAt(document, T - 1, false);
    expect(now.nextPrivateKey).toBeNull();
    expect(now.peers[0]).toMatchObject({ publicKey: bytes(2), nextPublicKey: bytes(12) });
  });

  it('from its own switchAt, uses the next private key; a one-key plane follows a peer PEER_SWITCH_LAG_MS after its switchAt', () => {
    expect(configAt(document, T, false).nextPrivateKey).toEqual(bytes(11));
    expect(configAt(document, T + 3_600_000 + LAG - 1, false).peers[0]!.publicKey).toEqual(bytes(2));
    const later = configAt(document, T + 3_600_000 + LAG, false);
    expect(later.peers[0]).toMatchObject({ publicKey: bytes(12), nextPublicKey: null, switchAtUnixMs: null });
    expect(later.peers[1]).toBe(document.peers[1]);
  });

  it('on a one-key plane, a switched peer is what the next phase document names: applying that one changes nothing', () => {
    const switched = configAt(document, T + 3_600_000 + LAG, false);
    const nextPhase = resolvedConfig([resolvedPeer(2, { publicKey: bytes(12) }), resolvedPeer(3)], {
      nextPrivateKey: bytes(11),
    });
    expect(isEmptyChange(planChange(switched, configAt(nextPhase, T + 3_600_000 + LAG, false)))).toBe(true);
  });

  it('on the userspace plane (a peer next key accepted beside the current), peers are left to the document', () => {
    const later = configAt(document, T + 3_600_000, true);
    expect(later.peers[0]).toBe(document.peers[0]);
    expect(later.nextPrivateKey).toEqual(bytes(11));
  });

  it('a document without switchAt applies as written', () => {
    const plain = resolvedConfig([resolvedPeer(2, { nextPublicKey: bytes(12) })], { nextPrivateKey: bytes(11) });
    expect(configAt(plain, 0, false)).toEqual(plain);
  });
});

describe('nextSwitchAt', () => {
  it('is the earliest switch still to come, on the plane that applies it', () => {
    expect(nextSwitchAt(document, T - 1, false)).toBe(T);
    expect(nextSwitchAt(document, T, false)).toBe(T + 3_600_000 + LAG);
    expect(nextSwitchAt(document, T + 3_600_000 + LAG, false)).toBeNull();
    // The userspace plane accepts peer 2's next key all along: only its own switch is scheduled.
    expect(nextSwitchAt(document, T, true)).toBeNull();
  });
});
