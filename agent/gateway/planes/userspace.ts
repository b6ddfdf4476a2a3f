/**
 * The userspace data plane: the wiremesh-wg engine inside the agent's own process. It also serves
 * the UAPI socket, so `wg show` works on the interface, and it alone supports zero-downtime key
 * rotation (two static keys at once).
 */
import { mkdirSync, unlinkSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import type { DeviceEvent } from '../../core/device';
import type { Peer } from '../../core/peer';
import { nativeIo } from '../../wg/native';
import { SOCKET_DIRECTORY, serveUapi } from '../../wg/uapi-server';
import type { ConfigChange, DeviceSnapshot } from '../../wg/uapi';
import { UserspaceDevice, type DeviceLog } from '../../wg/userspace-device';
import type { DataPlane } from '../plane';

export class UserspacePlane implements DataPlane {
  readonly kind = 'userspace' as const;
  private device: UserspaceDevice | null = null;
  private server: Server | null = null;
  private socketPath: string | null = null;

  constructor(
    private readonly log: DeviceLog,
    private readonly onEvent: (event: DeviceEvent) => void,
  ) {}

  async create(name: string, mtu: number): Promise<void> {
    const io = nativeIo();
    const [tunFd, interfaceName] = io.tunOpen(name);
    io.setMtu(interfaceName, mtu);
    const device = new UserspaceDevice({ tunFd, interfaceName, log: this.log, onEvent: this.onEvent });
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

  /** The engine, for key rotation and per-peer state. */
  get engine(): UserspaceDevice {
    if (!this.device) throw new Error('the userspace data plane has not been created');
    return this.device;
  }

  async apply(change: ConfigChange): Promise<void> {
    this.engine.apply(change);
  }

  async snapshot(): Promise<DeviceSnapshot> {
    return this.engine.snapshot();
  }

  drops(): Record<string, number> {
    return this.device?.drops() ?? {};
  }

  peerByKey(publicKey: Buffer): Peer | undefined {
    return this.device?.core.peer(publicKey);
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
