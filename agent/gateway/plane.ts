/**
 * The data planes the agent can drive, behind one UAPI-level interface: the in-process userspace
 * engine, the Linux kernel module, or a spawned wireguard-go. Each is configured with the same
 * ConfigChange (agent/wg/uapi.ts) and read back as the same DeviceSnapshot.
 */
import type { KeySlot } from '../core/keypair';
import type { ConfigChange, DeviceSnapshot } from '../wg/uapi';

export type DataPlaneName = 'userspace' | 'kernel' | 'wireguard-go';

/**
 * Zero-downtime key rotation, one shape on every plane (docs/key-rotation.md): the userspace plane
 * holds two static keys at once, answers handshakes to either and moves each peer to the next one;
 * the kernel and wireguard-go planes, one key per device, switch in place without losing a packet
 * (planes/single-key-rotation.ts).
 */
export interface KeyRotation {
  /** Our next public key while a rotation is in progress, else null. */
  readonly nextPublicKey: Buffer | null;
  /**
   * Whether setPeerNextKey makes the plane accept a peer's next key beside its current one (the
   * userspace plane); otherwise a peer's next key takes effect at promotion.
   */
  readonly acceptsPeerNextKeys: boolean;
  /** Starts a rotation to `nextPrivateKey` (replacing one in progress). */
  begin(nextPrivateKey: Buffer): Promise<void>;
  /**
   * Drops the next key. Userspace: peers that moved to it keep their sessions until their next
   * rekey; a single-key device switches back and its peers handshake again on the current key.
   */
  abort(): Promise<void>;
  /** Makes the next key the private key, keeping every session. */
  complete(): Promise<void>;
  /** Whether every peer's current session uses the next key, and how many peers there are. */
  status(): { complete: boolean; peers: number };
  /** Also accepts handshakes from the peer's own next key (null: stop), during its rotation. */
  setPeerNextKey(publicKey: Buffer, nextPublicKey: Buffer | null): Promise<void>;
  /** The peer finished its rotation: its next key becomes its public key. */
  promotePeerNextKey(publicKey: Buffer): Promise<void>;
  /** Which of our keys the peer's current session uses; undefined for an unknown peer. */
  localKeyOf(publicKey: Buffer): KeySlot | undefined;
}

export interface DataPlane {
  readonly kind: DataPlaneName;
  /** Creates interface `name` with `mtu` (left down; the agent brings it up after addresses). */
  create(name: string, mtu: number): Promise<void>;
  /** Applies a change; rejects with UapiError (nothing changed) when the plane refuses it. */
  apply(change: ConfigChange): Promise<void>;
  snapshot(): Promise<DeviceSnapshot>;
  /** Cumulative packet drops by reason, where the plane can tell (the userspace one); else {}. */
  drops(): Record<string, number>;
  /** Present on a plane whose snapshot needs no round trip (in process): stats read it live. */
  liveSnapshot?(): DeviceSnapshot;
  /** Zero-downtime key rotation. */
  readonly rotation: KeyRotation;
  /** Removes the interface and anything the plane started. Safe to call twice. */
  destroy(): Promise<void>;
}

/** Runs system commands; injected so the kernel plane can be tested up to the commands it runs. */
export interface CommandRunner {
  run(command: string, args: string[], options?: { input?: string }): Promise<string>;
}
