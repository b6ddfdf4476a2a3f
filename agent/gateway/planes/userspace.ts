/**
 * The userspace data plane: the wiremesh-wg engine inside the agent's own process. It also serves
 * the UAPI socket, so `wg show` works on the interface, reads its state without a round trip, and
 * rotates keys with two static keys at once (the other planes switch their one key in place).
 */
import { mkdirSync, unlinkSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { DeviceEvent, WireGuardDevice } from '../../core/device';
import type { KeySlot } from '../../core/keypair';
import { nativeIo, offloadsWanted } from '../../wg/native';
import { SOCKET_DIRECTORY, serveUapi } from '../../wg/uapi-server';
import type { ConfigChange, DeviceSnapshot } from '../../wg/uapi';
import { UserspaceDevice, type DeviceLog } from '../../wg/userspace-device';
import { sameKey } from '../diff';
import type { DataPlane, KeyRotation } from '../plane';

/** Key rotation on the sans-IO core the engine runs. */
class CoreKeyRotation implements KeyRotation {
  readonly acceptsPeerNextKeys = true;

  constructor(private readonly core: () => WireGuardDevice) {}

  get nextPublicKey(): Buffer | null {
    return this.core().nextPublicKey;
  }

  async begin(nextPrivateKey: Buffer): Promise<void> {
    this.core().beginKeyRotation(nextPrivateKey, performance.now());
  }

  async abort(): Promise<void> {
    this.core().abortKeyRotation();
  }

  async complete(): Promise<void> {
    this.core().completeKeyRotation();
  }

  status(): { complete: boolean; peers: number } {
    const status = this.core().rotationStatus();
    return { complete: status.complete, peers: status.peers.length };
  }

  async setPeerNextKey(publicKey: Buffer, nextPublicKey: Buffer | null): Promise<void> {
    const core = this.core();
    const live = core.peer(publicKey);
    if (live && !sameKey(live.alternatePublicKey, nextPublicKey)) core.setAlternatePublicKey(live, nextPublicKey);
  }

  async promotePeerNextKey(publicKey: Buffer): Promise<void> {
    const core = this.core();
    const live = core.peer(publicKey);
    if (live) core.promoteAlternatePublicKey(live);
  }

  localKeyOf(publicKey: Buffer): KeySlot | undefined {
    return this.core().peer(publicKey)?.localKeyInUse;
  }
}

export class UserspacePlane implements DataPlane {
  readonly kind = 'userspace' as const;
  private device: UserspaceDevice | null = null;
  private server: Server | null = null;
  private socketPath: string | null = null;
  readonly rotation: KeyRotation = new CoreKeyRotation(() => this.engine.core);

  constructor(
    private readonly log: DeviceLog,
    private readonly onEvent: (event: DeviceEvent) => void,
    /** Data-plane threads (the agent configuration's `threads`); default: the device's. */
    private readonly threads?: number,
  ) {}

  async create(name: string, mtu: number): Promise<void> {
    const io = nativeIo();
    const [tunFd, interfaceName] = io.tunOpen(name, offloadsWanted());
    io.setMtu(interfaceName, mtu);
    const device = new UserspaceDevice({
      tunFd,
      interfaceName,
      log: this.log,
      onEvent: this.onEvent,
      ...(this.threads !== undefined && { threads: this.threads }),
    });
    device.setMtu(mtu);
    device.start();
    this.device = device;
    mkdirSync(SOCKET_DIRECTORY, { recursive: true, mode: 0o755 });
    this.socketPath = `${SOCKET_DIRECTORY}/${interfaceName}.sock`;
    const server = createServer();
    serveUapi(server, device, this.log);
    await new Promise<void>((resolve) => server.listen({ fd: io.unixListen(this.socketPath!) }, resolve));
    this.server = server;
  }

  private get engine(): UserspaceDevice {
    if (!this.device) throw new Error('the userspace data plane has not been created');
    return this.device;
  }

  async apply(change: ConfigChange): Promise<void> {
    this.engine.apply(change);
  }

  async snapshot(): Promise<DeviceSnapshot> {
    return this.engine.snapshot();
  }

  liveSnapshot(): DeviceSnapshot {
    return this.engine.snapshot();
  }

  drops(): Record<string, number> {
    return this.device?.drops() ?? {};
  }

  async destroy(): Promise<void> {
    this.server?.close();
    this.server = null;
    if (this.socketPath) {
      try {
        unlinkSync(this.socketPath);
      } catch {
        // already gone
      }
      this.socketPath = null;
    }
    this.device?.close(); // closing the TUN descriptor removes the interface
    this.device = null;
  }
}
