/**
 * The data planes the agent can drive, behind one UAPI-level interface: the in-process userspace
 * engine, the Linux kernel module, or a spawned wireguard-go. Each is configured with the same
 * ConfigChange (agent/wg/uapi.ts) and read back as the same DeviceSnapshot.
 */
import type { KeySlot } from '../core/keypair';
import type { ConfigChange, DeviceSnapshot } from '../wg/uapi';

export type DataPlaneName = 'userspace' | 'kernel' | 'wireguard-go';

/**
 * Zero-downtime key rotation: the plane holds two static keys at once, answers handshakes to
 * either and moves each peer to the next one. An optional capability beside the plane, the way
 * wireguard-go's optional interfaces sit beside conn.Bind: only the userspace plane has it.
 */
export interface KeyRotation {
  /** Our next public key while a rotation is in progress, else null. */
  readonly nextPublicKey: Buffer | null;
  /** Starts a rotation to `nextPrivateKey` (replacing one in progress). */
  begin(nextPrivateKey: Buffer): void;
  /** Drops the next key; peers that moved to it keep their sessions until their next rekey. */
  abort(): void;
  /** Makes the next key the private key, keeping every session. */
  complete(): void;
  /** Whether every peer's current session uses the next key, and how many peers there are. */
  status(): { complete: boolean; peers: number };
  /** Also accepts handshakes from the peer's own next key (null: stop), during its rotation. */
  setPeerNextKey(publicKey: Buffer, nextPublicKey: Buffer | null): void;
  /** The peer finished its rotation: its next key becomes its public key, sessions untouched. */
  promotePeerNextKey(publicKey: Buffer): void;
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
  /** Present on a plane that supports zero-downtime key rotation. */
  readonly rotation?: KeyRotation;
  /** Removes the interface and anything the plane started. Safe to call twice. */
  destroy(): Promise<void>;
}

/** Runs system commands; injected so the kernel plane can be tested up to the commands it runs. */
export interface CommandRunner {
  run(command: string, args: string[], options?: { input?: string }): Promise<string>;
}
