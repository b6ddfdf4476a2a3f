/**
 * Key rotation on a device that holds one static private key: the Linux kernel module and
 * wireguard-go, both driven through the same UAPI-level change (docs/key-rotation.md, "The kernel
 * and wireguard-go planes").
 *
 * Neither device can answer handshakes to two keys, so the switch is an in-place key change, and it
 * loses no packet because of what both do when their private key changes (wireguard-go
 * `Device.SetPrivateKey`, Linux `set_device` in drivers/net/wireguard/netlink.c): every peer's
 * sessions are expired for *sending* only. They stay in the receive index table and keep
 * decrypting what the peer still sends on them, while whatever we send is staged (up to 128
 * packets per peer) behind a handshake with the new key, sent at once (the last-handshake-sent time
 * is reset). Our peers accept our next key before we switch (phase next), so that handshake is
 * answered within one round trip and the staged packets follow: a delay, not a loss.
 *
 * begin() also makes every peer handshake at once, idle ones included, by switching persistent
 * keepalive on for one section (both devices send a keepalive when it goes from off to on) and
 * restoring it, so a peer moves within a round trip instead of at its next packet.
 *
 * What the userspace plane does and this cannot: fall back per peer. A peer that does not accept
 * our next key is cut off from us until it does or abort() switches back. And a peer's next key
 * is not accepted beside its current one (one key per peer entry): it takes effect at promotion.
 */
import { keyToBase64 } from '../../crypto/keys';
import { publicKeyOf } from '../../crypto/primitives';
import type { KeySlot } from '../../core/keypair';
import type { ConfigChange, DeviceSnapshot, PeerChange, PeerSnapshot } from '../../wg/uapi';
import { fullPeerChange } from '../diff';
import type { KeyRotation } from '../plane';

/** The device's own configuration interface, below the plane. */
export interface SingleKeyDevice {
  apply(change: ConfigChange): Promise<void>;
  snapshot(): Promise<DeviceSnapshot>;
}

interface Switched {
  nextPublicKey: Buffer;
  /** The key held before the switch, which abort() restores. */
  previousPrivateKey: Buffer | null;
  /** Per peer, its latest handshake at the switch: any later one was made with the next key. */
  handshakesAtSwitch: Map<string, number>;
}

export class SingleKeyRotation implements KeyRotation {
  readonly acceptsPeerNextKeys = false;
  private switched: Switched | null = null;
  /** Latest handshake per peer, from the plane's last snapshot. */
  private readonly handshakes = new Map<string, number>();
  private readonly peerNextKeys = new Map<string, Buffer>();

  constructor(private readonly device: SingleKeyDevice) {}

  get nextPublicKey(): Buffer | null {
    return this.switched?.nextPublicKey ?? null;
  }

  /** Called with every snapshot the plane takes, so status() and localKeyOf() need no round trip. */
  observe(snapshot: DeviceSnapshot): void {
    this.handshakes.clear();
    for (const peer of snapshot.peers) this.handshakes.set(keyToBase64(peer.publicKey), peer.lastHandshakeUnixMs);
  }

  async begin(nextPrivateKey: Buffer): Promise<void> {
    const before = await this.device.snapshot();
    await this.device.apply({ privateKey: nextPrivateKey, replacePeers: false, peers: [] });
    this.switched = {
      nextPublicKey: publicKeyOf(nextPrivateKey),
      previousPrivateKey: this.switched ? this.switched.previousPrivateKey : before.privateKey,
      handshakesAtSwitch: new Map(before.peers.map((peer) => [keyToBase64(peer.publicKey), peer.lastHandshakeUnixMs])),
    };
    await this.device.apply(handshakeNow(before.peers));
  }

  async abort(): Promise<void> {
    const switched = this.switched;
    if (!switched) return;
    this.switched = null;
    await this.device.apply({ privateKey: switched.previousPrivateKey, replacePeers: false, peers: [] });
    await this.device.apply(handshakeNow((await this.device.snapshot()).peers));
  }

  async complete(): Promise<void> {
    this.switched = null; // the device holds the next key already
  }

  status(): { complete: boolean; peers: number } {
    const keys = [...this.handshakes.keys()];
    return {
      complete: this.switched !== null && keys.every((key) => this.slotOf(key) === 'next'),
      peers: keys.length,
    };
  }

  async setPeerNextKey(publicKey: Buffer, nextPublicKey: Buffer | null): Promise<void> {
    const key = keyToBase64(publicKey);
    if (nextPublicKey) this.peerNextKeys.set(key, nextPublicKey);
    else this.peerNextKeys.delete(key);
  }

  /**
   * The peer's entry is re-created under its next key (endpoint, preshared key, keepalive and
   * allowed IPs kept) and handshakes at once: its sessions end, since they belong to the old entry.
   * One change does both, so the peer's packets on the ended sessions are lost for no longer than
   * the handshake takes to reach it (it stages what it sends from there: agent/core device.ts).
   */
  async promotePeerNextKey(publicKey: Buffer): Promise<void> {
    const key = keyToBase64(publicKey);
    const nextPublicKey = this.peerNextKeys.get(key);
    const entry = (await this.device.snapshot()).peers.find((peer) => peer.publicKey.equals(publicKey));
    if (!nextPublicKey || !entry) return;
    this.peerNextKeys.delete(key);
    const renamed: PeerSnapshot = { ...entry, publicKey: nextPublicKey };
    await this.device.apply({
      replacePeers: false,
      peers: [
        { publicKey, remove: true, updateOnly: false, allowedIps: [] },
        fullPeerChange(renamed),
        ...handshakeNow([renamed]).peers,
      ],
    });
  }

  localKeyOf(publicKey: Buffer): KeySlot | undefined {
    const key = keyToBase64(publicKey);
    return this.handshakes.has(key) ? this.slotOf(key) : undefined;
  }

  private slotOf(key: string): KeySlot {
    const switched = this.switched;
    if (!switched) return 'current';
    return (this.handshakes.get(key) ?? 0) > (switched.handshakesAtSwitch.get(key) ?? 0) ? 'next' : 'current';
  }
}

/**
 * Two sections per peer that leave its keepalive as it was, the second turning it from off to on:
 * off -> 1 -> off, or k -> off -> k. Either way the device sends a keepalive, and so a handshake.
 */
function handshakeNow(peers: readonly PeerSnapshot[]): ConfigChange {
  const section = (peer: PeerSnapshot, interval: number): PeerChange => ({
    publicKey: peer.publicKey,
    remove: false,
    updateOnly: true,
    persistentKeepaliveInterval: interval,
    allowedIps: [],
  });
  return {
    replacePeers: false,
    peers: peers.flatMap((peer) => {
      const interval = peer.persistentKeepaliveInterval;
      return interval === 0 ? [section(peer, 1), section(peer, 0)] : [section(peer, 0), section(peer, interval)];
    }),
  };
}
