/**
 * Two or more sans-IO devices joined by an in-memory "network" with a fake clock. Datagrams wait
 * in flight until the test delivers them, so it can drop, reorder or replay any of them.
 */
import { generatePrivateKey } from '../../agent/crypto/primitives';
import { parsePrefix } from '../../common/ip';
import { WireGuardDevice, type DeviceEvent, type DeviceOptions } from '../../agent/core/device';
import type { Endpoint, Peer } from '../../agent/core/peer';

export interface InFlight {
  from: Node;
  to: Node;
  datagram: Buffer;
}

export class Node {
  readonly device: WireGuardDevice;
  readonly delivered: Buffer[] = [];
  readonly events: DeviceEvent[] = [];
  readonly privateKey = generatePrivateKey();

  constructor(
    readonly network: FakeNetwork,
    readonly name: string,
    readonly endpoint: Endpoint,
    options: Partial<DeviceOptions> = {},
  ) {
    this.device = new WireGuardDevice({
      ...options,
      outputs: {
        transmit: (datagram, to) => network.transmit(this, datagram, to),
        deliver: (packet) => this.delivered.push(Buffer.from(packet)),
        event: (event) => this.events.push(event),
      },
    });
    this.device.setPrivateKey(this.privateKey);
  }

  get publicKey(): Buffer {
    return this.device.publicKey!;
  }

  /** Makes `other` a peer of this node, reachable at its endpoint, owning `allowedIps`. */
  connect(other: Node, allowedIps: string[], options: { presharedKey?: Buffer; knowEndpoint?: boolean } = {}): Peer {
    const peer = this.device.addPeer(other.publicKey)!;
    if (options.knowEndpoint ?? true) peer.endpoint = other.endpoint;
    peer.presharedKey = options.presharedKey ?? null;
    for (const prefix of allowedIps) this.device.allowedIps.insert(parsePrefix(prefix), peer);
    return peer;
  }

  peerFor(other: Node): Peer {
    return this.device.peer(other.publicKey)!;
  }

  send(packet: Buffer): void {
    this.device.sendPacket(packet, this.network.now);
  }

  drops(reason: string): number {
    return this.device.drops.get(reason as never) ?? 0;
  }
}

export class FakeNetwork {
  now = 1_000_000;
  readonly nodes: Node[] = [];
  inFlight: InFlight[] = [];
  /** Every datagram ever transmitted, in order. */
  readonly log: InFlight[] = [];

  node(name: string, address: string, options: Partial<DeviceOptions> = {}): Node {
    const node = new Node(this, name, { address, port: 51820 }, options);
    this.nodes.push(node);
    return node;
  }

  transmit(from: Node, datagram: Uint8Array, to: Endpoint): void {
    const target = this.nodes.find((n) => n.endpoint.address === to.address && n.endpoint.port === to.port);
    if (!target) return;
    const entry = { from, to: target, datagram: Buffer.from(datagram) };
    this.inFlight.push(entry);
    this.log.push(entry);
  }

  /** Hands one datagram to its destination, as if it arrived from `source` (default: the sender). */
  deliver(entry: InFlight, source: Endpoint = entry.from.endpoint): void {
    entry.to.device.receiveDatagram(entry.datagram, source, this.now);
  }

  /** Delivers everything in flight, including what the deliveries cause, unless `keep` rejects it. */
  flush(keep: (entry: InFlight) => boolean = () => true): void {
    for (let rounds = 0; this.inFlight.length > 0 && rounds < 1000; rounds++) {
      const batch = this.inFlight;
      this.inFlight = [];
      for (const entry of batch) if (keep(entry)) this.deliver(entry);
    }
  }

  /** Drops everything in flight. */
  lose(): InFlight[] {
    const lost = this.inFlight;
    this.inFlight = [];
    return lost;
  }

  /** Moves the clock forward in steps, ticking every device and delivering traffic as it goes. */
  advance(ms: number, options: { step?: number; keep?: (entry: InFlight) => boolean } = {}): void {
    const end = this.now + ms;
    const step = options.step ?? 100;
    while (this.now < end) {
      this.now = Math.min(end, this.now + step);
      for (const node of this.nodes) node.device.tick(this.now);
      this.flush(options.keep);
    }
  }
}

export function messageType(datagram: Buffer): number {
  return datagram.readUInt32LE(0);
}

/** A minimal IPv4 packet (the core checks version, length and addresses, not checksums). */
export { ipv4Packet, ipv6Packet } from '../../lab/packets';
