/**
 * The data planes the agent can drive, behind one UAPI-level interface: the in-process userspace
 * engine, the Linux kernel module, or a spawned wireguard-go. Each is configured with the same
 * ConfigChange (agent/wg/uapi.ts) and read back as the same DeviceSnapshot.
 */
import type { ConfigChange, DeviceSnapshot } from '../wg/uapi';

export type DataPlaneName = 'userspace' | 'kernel' | 'wireguard-go';

export interface DataPlane {
  readonly kind: DataPlaneName;
  /** Creates interface `name` with `mtu` (left down; the agent brings it up after addresses). */
  create(name: string, mtu: number): Promise<void>;
  /** Applies a change; rejects with UapiError (nothing changed) when the plane refuses it. */
  apply(change: ConfigChange): Promise<void>;
  snapshot(): Promise<DeviceSnapshot>;
  /** Cumulative packet drops by reason, where the plane can tell (the userspace one); else {}. */
  drops(): Record<string, number>;
  /** Removes the interface and anything the plane started. Safe to call twice. */
  destroy(): Promise<void>;
}

/** Runs system commands; injected so the kernel plane can be tested up to the commands it runs. */
export interface CommandRunner {
  run(command: string, args: string[], options?: { input?: string }): Promise<string>;
}
