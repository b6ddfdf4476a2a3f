/**
 * The UAPI change that takes a data plane from the configuration applied last to the desired one,
 * touching only what differs: adding, removing or changing one peer leaves every other peer's
 * sessions alone. A pure function, so the same change drives every data plane.
 */
import { formatPrefix, type IpPrefix } from '../../common/ip';
import type { ConfigChange, PeerChange } from '../wg/uapi';
import type { ResolvedConfig, ResolvedPeer } from './resolve';

export function sameKey(a: Buffer | null, b: Buffer | null): boolean {
  return a === b || (a !== null && b !== null && a.equals(b));
}

function prefixSet(peer: ResolvedPeer): string {
  return peer.allowedIps.map(formatPrefix).sort().join(',');
}

/** A section that creates the peer, or resets it, with exactly these settings. */
export function fullPeerChange(peer: {
  publicKey: Buffer;
  presharedKey: Buffer | null;
  endpoint: string | null;
  persistentKeepaliveInterval: number;
  allowedIps: readonly IpPrefix[];
}): PeerChange {
  return {
    publicKey: peer.publicKey,
    remove: false,
    updateOnly: false,
    presharedKey: peer.presharedKey,
    ...(peer.endpoint !== null && { endpoint: peer.endpoint }),
    persistentKeepaliveInterval: peer.persistentKeepaliveInterval,
    allowedIps: [{ kind: 'clear' }, ...peer.allowedIps.map((prefix) => ({ kind: 'add' as const, prefix }))],
  };
}

function fullPeer(peer: ResolvedPeer): PeerChange {
  return fullPeerChange({ ...peer, persistentKeepaliveInterval: peer.persistentKeepalive });
}

/** Only the fields of `desired` that differ from `previous`; null when nothing does. */
function peerDifference(previous: ResolvedPeer, desired: ResolvedPeer): PeerChange | null {
  const change: PeerChange = { publicKey: desired.publicKey, remove: false, updateOnly: true, allowedIps: [] };
  let changed = false;
  if (!sameKey(previous.presharedKey, desired.presharedKey)) {
    change.presharedKey = desired.presharedKey;
    changed = true;
  }
  // An endpoint we did not configure may have roamed; only a changed configured endpoint is set.
  if (desired.endpoint !== null && desired.endpoint !== previous.endpoint) {
    change.endpoint = desired.endpoint;
    changed = true;
  }
  if (desired.persistentKeepalive !== previous.persistentKeepalive) {
    change.persistentKeepaliveInterval = desired.persistentKeepalive;
    changed = true;
  }
  if (prefixSet(previous) !== prefixSet(desired)) {
    change.allowedIps = fullPeer(desired).allowedIps;
    changed = true;
  }
  return changed ? change : null;
}

/** `previous` null: the first apply, which replaces whatever the interface held. */
export function planChange(previous: ResolvedConfig | null, desired: ResolvedConfig): ConfigChange {
  if (!previous) {
    return {
      privateKey: desired.privateKey,
      listenPort: desired.listenPort,
      fwmark: desired.fwmark,
      replacePeers: true,
      peers: desired.peers.map(fullPeer),
    };
  }
  const change: ConfigChange = { replacePeers: false, peers: [] };
  if (!desired.privateKey.equals(previous.privateKey)) change.privateKey = desired.privateKey;
  if (desired.listenPort !== previous.listenPort) change.listenPort = desired.listenPort;
  if (desired.fwmark !== previous.fwmark) change.fwmark = desired.fwmark;
  const before = new Map(previous.peers.map((peer) => [peer.publicKey.toString('hex'), peer]));
  const after = new Set(desired.peers.map((peer) => peer.publicKey.toString('hex')));
  for (const [key, peer] of before) {
    if (!after.has(key))
      change.peers.push({ publicKey: peer.publicKey, remove: true, updateOnly: false, allowedIps: [] });
  }
  for (const peer of desired.peers) {
    const old = before.get(peer.publicKey.toString('hex'));
    const peerChange = old ? peerDifference(old, peer) : fullPeer(peer);
    if (peerChange) change.peers.push(peerChange);
  }
  return change;
}

export function isEmptyChange(change: ConfigChange): boolean {
  return (
    change.privateKey === undefined &&
    change.listenPort === undefined &&
    change.fwmark === undefined &&
    !change.replacePeers &&
    change.peers.length === 0
  );
}
