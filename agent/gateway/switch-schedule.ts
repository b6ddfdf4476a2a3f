/**
 * The scheduled switch of a key rotation (docs/key-rotation.md, "The scheduled switch"): what a
 * document says, seen at an instant. Pure: the resolved document and the clock in, the
 * configuration to apply out.
 *
 * A one-key device (kernel, wireguard-go) holds one key per peer entry, so a rotating gateway and
 * its peers must change their sides at the same moment, not whenever each next polls its
 * document. Both documents name the same instant: the rotating gateway's `switchAt` (for its
 * `nextPrivateKey`) and each peer's `peers[].switchAt` (for that gateway's `nextPublicKey`). Until
 * then the gateway holds its next key unused and the peers keep the current one; from then on the
 * gateway initiates with the next key and a one-key peer names it as the gateway's public key, so
 * the gap is a round trip and PEER_SWITCH_LAG_MS. The userspace plane accepts a peer's next key
 * beside its current one all along, so only its own key waits.
 */
import type { ResolvedConfig, ResolvedPeer } from './resolve';

/**
 * How long a one-key peer follows the rotating gateway's switch, so that the gateway goes first
 * even with clocks that far apart. What the gateway sends in between is staged (up to 128 packets
 * per peer in wireguard-go and the kernel) behind its handshake, which the peer answers when it
 * switches. A peer that went first would drop what the gateway's current key carries until the
 * gateway switched, and when both switch within a one-way trip each drops the other's handshake
 * and both wait for the 5 s retry (REKEY_TIMEOUT): measured, test/interop/agent.test.ts.
 */
export const PEER_SWITCH_LAG_MS = 250;

/** `document` as it applies at `nowMs` on a plane that does (or does not) accept a peer's next key beside its current one. */
export function configAt(document: ResolvedConfig, nowMs: number, acceptsPeerNextKeys: boolean): ResolvedConfig {
  const ownDue = document.switchAtUnixMs === null || document.switchAtUnixMs <= nowMs;
  return {
    ...document,
    nextPrivateKey: ownDue ? document.nextPrivateKey : null,
    peers: document.peers.map((peer) => (peerSwitched(peer, nowMs, acceptsPeerNextKeys) ? switchedPeer(peer) : peer)),
  };
}

/** The next instant after `nowMs` at which configAt changes, or null when none is scheduled. */
export function nextSwitchAt(document: ResolvedConfig, nowMs: number, acceptsPeerNextKeys: boolean): number | null {
  const pending = [
    ...(document.nextPrivateKey ? [document.switchAtUnixMs] : []),
    ...(acceptsPeerNextKeys ? [] : document.peers.filter((peer) => peer.nextPublicKey).map(peerSwitchAt)),
  ].filter((at): at is number => at !== null && at > nowMs);
  return pending.length > 0 ? Math.min(...pending) : null;
}

function peerSwitchAt(peer: ResolvedPeer): number | null {
  return peer.switchAtUnixMs === null ? null : peer.switchAtUnixMs + PEER_SWITCH_LAG_MS;
}

function peerSwitched(peer: ResolvedPeer, nowMs: number, acceptsPeerNextKeys: boolean): boolean {
  const at = peerSwitchAt(peer);
  return !acceptsPeerNextKeys && peer.nextPublicKey !== null && at !== null && at <= nowMs;
}

/** The peer on its next key: what a later document names it, so that document changes nothing. */
function switchedPeer(peer: ResolvedPeer): ResolvedPeer {
  return { ...peer, publicKey: peer.nextPublicKey!, nextPublicKey: null, switchAtUnixMs: null };
}
