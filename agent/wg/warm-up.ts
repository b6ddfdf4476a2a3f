/**
 * Data-plane warm-up: V8 compiles the hot path before the first real packets instead of during
 * them. With the early tier-up flags (./tiering.ts) Maglev compiles each hot function after ~50
 * calls on V8's helper threads, and on a two-core host those compiles took the CPU that a woken
 * data-plane thread needed: most of the first seconds' ping tail (docs/dataplane-offloads.md,
 * "Where the p99 goes"). Here two throwaway devices, never started and keyed with fresh throwaway
 * keys, complete a handshake and pass ping- and MTU-sized IPv4 and IPv6 packets back and forth
 * through the same functions real traffic takes, poll callbacks included (TUN drain, route,
 * counter, header, batched seal and open, replay window, allowed IPs, TUN write batch). Their
 * native layer is a stand-in for the I/O: a TUN read returns the rehearsal packet, a send hands
 * the datagrams to the other device's next receive, and TUN writes go nowhere; only the AEAD is
 * the real native one. No descriptor is touched. Runs once per process, at the first handshake:
 * idle devices pay nothing.
 */
import { parsePrefix } from '../../common/ip';
import { generatePrivateKey, publicKeyOf } from '../crypto/primitives';
import { RECV_META_SIZE, RECV_OFFSET_FIELD, SEND_META_SIZE, type NativeIo, type PollHandle } from './native';
import type { ConfigChange } from './uapi';

/**
 * Round trips in the rehearsal: above Maglev's threshold plus the 50 calls it waits after the last
 * type-feedback change (tiering.ts), far below TurboFan's.
 */
export const WARM_UP_ROUND_TRIPS = 120;

/** Rehearsal addresses: documentation ranges (RFC 5737, RFC 3849), never on any wire. */
const SIDES = [
  { address: [192, 0, 2, 1], v6: 1 },
  { address: [192, 0, 2, 2], v6: 2 },
] as const;
const PORT = 51820;

/** What the rehearsal drives: a UserspaceDevice that was never started. */
export interface RehearsalDevice {
  apply(change: ConfigChange): void;
  /** Wires the device to its stand-in I/O: a TUN reader and one IPv4 socket, both polled, no descriptors. */
  prepareRehearsal(): void;
  close(): void;
}

let claimed = false;

/** True for the first caller in this process only: the one that runs the warm-up. */
export function claimWarmUp(): boolean {
  if (claimed) return false;
  claimed = true;
  return true;
}

/** WIREMESH_WARM_UP=0 skips the rehearsal (the early tier-up flags still apply): for comparison. */
export function warmUpWanted(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.WIREMESH_WARM_UP !== '0';
}

/** One side's stand-in I/O: packets waiting to be read from its TUN and datagrams from its socket. */
class RehearsalWire {
  readonly tunPackets: Buffer[] = [];
  readonly datagrams: Buffer[] = [];
  peer: RehearsalWire | null = null;
  /** The device's poll callbacks: the first poll is its TUN's, the second its socket's. */
  private readonly callbacks: ((status: number) => void)[] = [];

  constructor(readonly address: readonly number[]) {}

  /** `real` with the I/O calls replaced; `udpOffloads` is what the socket probe reports. */
  io(real: NativeIo, udpOffloads: number): NativeIo {
    const overrides: Partial<NativeIo> = {
      tunReadSegments: (_fd, data, spans) => this.readTun(data, spans, 0),
      tunReadBatch: (_fd, data, slotSize, lengths) => this.readTun(data, lengths, slotSize),
      tunWriteFrames: (_fd, _data, _spans, count) => count,
      tunWriteBatch: (_fd, _data, _spans, count) => count,
      udpSetOffloads: () => udpOffloads,
      sendBatch: (_fd, data, meta, count) => this.send(data, meta, count),
      recvBatch: (_fd, data, slotSize, meta, maxCount) => this.receive(data, slotSize, meta, maxCount),
      receiveBacklog: () => 0,
      closeFd: () => {},
      pollStart: (_fd, onReadable) => {
        this.callbacks.push(onReadable);
        return {} as PollHandle; // only ever given back to the pollStop below
      },
      pollStop: () => {},
    };
    // Defined, not assigned: the addon's functions are read-only properties.
    const properties = Object.fromEntries(Object.entries(overrides).map(([name, value]) => [name, { value }]));
    return Object.create(real, properties) as NativeIo;
  }

  /** The TUN has a packet to read. */
  tunReadable(): void {
    this.callbacks[0]!(0);
  }

  socketReadable(): void {
    this.callbacks[1]!(0);
  }

  /** Vnet reads (slotSize 0) report (offset, length) spans; plain reads, lengths per slot. */
  private readTun(data: Buffer, out: Buffer, slotSize: number): number {
    const packet = this.tunPackets.shift();
    if (!packet) return 0;
    packet.copy(data, 0);
    if (slotSize === 0) {
      out.writeUInt32LE(0, 0);
      out.writeUInt32LE(packet.length, 4);
    } else {
      out.writeUInt32LE(packet.length, 0);
    }
    return 1;
  }

  private send(data: Buffer, meta: Buffer, count: number): number {
    for (let i = 0; i < count; i++) {
      const offset = meta.readUInt32LE(i * SEND_META_SIZE);
      const length = meta.readUInt32LE(i * SEND_META_SIZE + 4);
      this.peer!.datagrams.push(Buffer.from(data.subarray(offset, offset + length)));
    }
    return count;
  }

  /** Records as recvBatch writes them: length, source (family, port, address), offset. */
  private receive(data: Buffer, slotSize: number, meta: Buffer, maxCount: number): number {
    let count = 0;
    for (; count < maxCount && this.datagrams.length > 0; count++) {
      const datagram = this.datagrams.shift()!;
      const record = count * RECV_META_SIZE;
      datagram.copy(data, count * slotSize);
      meta.fill(0, record, record + RECV_META_SIZE);
      meta.writeUInt32LE(datagram.length, record);
      meta[record + 4] = 4;
      meta.writeUInt16LE(PORT, record + 6);
      meta.set(this.peer!.address, record + 8);
      meta.writeUInt32LE(count * slotSize, record + RECV_OFFSET_FIELD);
    }
    return count;
  }
}

/**
 * Runs the rehearsal between two devices made by `make` (given their stand-in native layer) and
 * closes them. Returns the packets that were read from a TUN.
 */
export function rehearse(real: NativeIo, udpOffloads: number, make: (io: NativeIo) => RehearsalDevice): number {
  const keys = SIDES.map(() => generatePrivateKey());
  const wires = SIDES.map((side) => new RehearsalWire(side.address));
  wires[0]!.peer = wires[1]!;
  wires[1]!.peer = wires[0]!;
  const devices = wires.map((wire) => make(wire.io(real, udpOffloads)));
  // Node's shared writeUInt32LE then expects values above V8's small-integer range (2^30), as most
  // random receiver indices are: otherwise its optimized code deopts at the first such index.
  Buffer.alloc(4).writeUInt32LE(0xffffffff, 0);
  try {
    devices.forEach((device, i) => {
      const theirs = SIDES[1 - i]!;
      device.apply({
        privateKey: keys[i]!,
        replacePeers: true,
        peers: [
          {
            publicKey: publicKeyOf(keys[1 - i]!),
            remove: false,
            updateOnly: false,
            endpoint: `${theirs.address.join('.')}:${PORT}`,
            allowedIps: [
              { kind: 'add', prefix: parsePrefix(`${theirs.address.join('.')}/32`) },
              { kind: 'add', prefix: parsePrefix(`2001:db8::${theirs.v6}/128`) },
            ],
          },
        ],
      });
      device.prepareRehearsal();
    });
    const packets = [
      [ipv4Packet(84, 0, 1), ipv4Packet(84, 1, 0)],
      [ipv6Packet(104, 0, 1), ipv6Packet(104, 1, 0)],
      [ipv4Packet(1420, 0, 1), ipv4Packet(1420, 1, 0)],
    ];
    let read = 0;
    for (let round = 0; round < WARM_UP_ROUND_TRIPS; round++) {
      const pair = packets[round % packets.length]!;
      for (const from of [0, 1]) {
        wires[from]!.tunPackets.push(pair[from]!);
        wires[from]!.tunReadable();
        read++;
        // Until both sides are quiet (the first packet also carries the handshake).
        while (wires.some((wire) => wire.datagrams.length > 0)) {
          for (const wire of wires) if (wire.datagrams.length > 0) wire.socketReadable();
        }
      }
    }
    return read;
  } finally {
    for (const device of devices) device.close();
    for (const key of keys) key.fill(0);
  }
}

/** An IPv4 ICMP echo of `length` bytes from side `from` to side `to`. */
function ipv4Packet(length: number, from: number, to: number): Buffer {
  const packet = Buffer.alloc(length);
  packet[0] = 0x45;
  packet.writeUInt16BE(length, 2);
  packet[8] = 64;
  packet[9] = 1; // ICMP
  packet.set(SIDES[from]!.address, 12);
  packet.set(SIDES[to]!.address, 16);
  packet[20] = 8; // echo request
  return packet;
}

/** An IPv6 ICMPv6 echo of `length` bytes between 2001:db8::1 and 2001:db8::2. */
function ipv6Packet(length: number, from: number, to: number): Buffer {
  const packet = Buffer.alloc(length);
  packet[0] = 0x60;
  packet.writeUInt16BE(length - 40, 4);
  packet[6] = 58; // ICMPv6
  packet[7] = 64;
  for (const [offset, side] of [
    [8, from],
    [24, to],
  ] as const) {
    packet.writeUInt16BE(0x2001, offset);
    packet.writeUInt16BE(0x0db8, offset + 2);
    packet[offset + 15] = SIDES[side]!.v6;
  }
  packet[40] = 128; // echo request
  return packet;
}
