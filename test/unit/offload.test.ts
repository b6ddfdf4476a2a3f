/**
 * TUN offload segmentation (gsoSplit) and coalescing (groCoalesce) in the native layer, against
 * crafted virtio_net_hdr frames: what the read path does to a TSO/USO segment from the kernel and
 * what the write path hands back to it. Checksums are verified independently here.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../agent/package-root';
import {
  MAX_SEGMENTS_PER_FRAME,
  OFFLOAD_STAT_COUNT,
  OffloadStat,
  TUN_READ_RESERVE,
  nativeIo,
} from '../../agent/wg/native';

const built = existsSync(join(packageRoot(), 'build', 'Release', 'wiremesh_io.node'));
const describeNative = built || process.env.CI === 'true' ? describe : describe.skip;

const TCP = 6;
const UDP = 17;
const ACK = 0x10;
const PSH = 0x08;
const FIN = 0x01;
const CWR = 0x80;
const GSO = { none: 0, tcp4: 1, tcp6: 4, udp: 5 } as const;

function sum16(bytes: Uint8Array, initial = 0): number {
  let sum = initial;
  for (let i = 0; i + 1 < bytes.length; i += 2) sum += (bytes[i]! << 8) | bytes[i + 1]!;
  if (bytes.length % 2) sum += bytes[bytes.length - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

function pseudo(packet: Buffer, v6: boolean, proto: number, length: number): number {
  const addresses = v6 ? packet.subarray(8, 40) : packet.subarray(12, 20);
  return sum16(addresses, proto + (length >>> 16) + (length & 0xffff));
}

/** True when the packet's IPv4 header (if any) and TCP/UDP checksums verify. */
function checksumsValid(packet: Buffer): boolean {
  const v6 = packet[0]! >> 4 === 6;
  const iphlen = v6 ? 40 : (packet[0]! & 15) * 4;
  if (!v6 && sum16(packet.subarray(0, iphlen)) !== 0xffff) return false;
  const proto = v6 ? packet[6]! : packet[9]!;
  const l4 = packet.subarray(iphlen);
  return sum16(l4, pseudo(packet, v6, proto, l4.length)) === 0xffff;
}

function setChecksum(packet: Buffer, v6: boolean, iphlen: number, proto: number): void {
  const field = iphlen + (proto === TCP ? 16 : 6);
  packet.writeUInt16BE(0, field);
  const l4 = packet.subarray(iphlen);
  packet.writeUInt16BE(~sum16(l4, pseudo(packet, v6, proto, l4.length)) & 0xffff, field);
  if (!v6) {
    packet.writeUInt16BE(0, 10);
    packet.writeUInt16BE(~sum16(packet.subarray(0, iphlen)) & 0xffff, 10);
  }
}

interface PacketSpec {
  v6?: boolean;
  proto?: number;
  payload: Buffer;
  seq?: number;
  flags?: number;
  /** TCP option bytes (a multiple of 4). */
  options?: Buffer;
  id?: number;
  sourcePort?: number;
}

/** One IPv4/IPv6 TCP or UDP packet with valid checksums. */
function packet(spec: PacketSpec): Buffer {
  const v6 = spec.v6 ?? false;
  const proto = spec.proto ?? TCP;
  const options = spec.options ?? Buffer.alloc(0);
  const iphlen = v6 ? 40 : 20;
  const l4hlen = proto === TCP ? 20 + options.length : 8;
  const out = Buffer.alloc(iphlen + l4hlen + spec.payload.length);
  if (v6) {
    out[0] = 0x60;
    out.writeUInt16BE(l4hlen + spec.payload.length, 4);
    out[6] = proto;
    out[7] = 64;
    Buffer.from('fd190000000000000000000000000001', 'hex').copy(out, 8);
    Buffer.from('fd190000000000000000000000000002', 'hex').copy(out, 24);
  } else {
    out[0] = 0x45;
    out.writeUInt16BE(out.length, 2);
    out.writeUInt16BE(spec.id ?? 0x1234, 4);
    out.writeUInt16BE(0x4000, 6); // DF
    out[8] = 64;
    out[9] = proto;
    Buffer.from([198, 19, 0, 1, 198, 19, 0, 2]).copy(out, 12);
  }
  out.writeUInt16BE(spec.sourcePort ?? 40000, iphlen);
  out.writeUInt16BE(5201, iphlen + 2);
  if (proto === TCP) {
    out.writeUInt32BE(spec.seq ?? 1000, iphlen + 4);
    out.writeUInt32BE(777, iphlen + 8);
    out[iphlen + 12] = (l4hlen / 4) << 4;
    out[iphlen + 13] = spec.flags ?? ACK;
    out.writeUInt16BE(512, iphlen + 14);
    options.copy(out, iphlen + 20);
  } else {
    out.writeUInt16BE(8 + spec.payload.length, iphlen + 4);
  }
  spec.payload.copy(out, iphlen + l4hlen);
  setChecksum(out, v6, iphlen, proto);
  return out;
}

interface HeaderSpec {
  flags?: number;
  gsoType: number;
  hdrLen?: number;
  gsoSize?: number;
  csumStart?: number;
  csumOffset?: number;
}

function frame(header: HeaderSpec, body: Buffer): Buffer {
  const hdr = Buffer.alloc(10);
  hdr[0] = header.flags ?? 1;
  hdr[1] = header.gsoType;
  hdr.writeUInt16LE(header.hdrLen ?? 0, 2);
  hdr.writeUInt16LE(header.gsoSize ?? 0, 4);
  hdr.writeUInt16LE(header.csumStart ?? 0, 6);
  hdr.writeUInt16LE(header.csumOffset ?? 0, 8);
  return Buffer.concat([hdr, body]);
}

/** A TSO frame as the kernel hands it over: one large packet with a partial checksum. */
function tsoFrame(spec: PacketSpec, gsoSize: number): Buffer {
  const big = packet(spec);
  const v6 = spec.v6 ?? false;
  const proto = spec.proto ?? TCP;
  const iphlen = v6 ? 40 : 20;
  const l4hlen = proto === TCP ? 20 + (spec.options?.length ?? 0) : 8;
  // CHECKSUM_PARTIAL: the field holds the pseudo-header sum only.
  big.writeUInt16BE(pseudo(big, v6, proto, big.length - iphlen), iphlen + (proto === TCP ? 16 : 6));
  const gsoType = proto === UDP ? GSO.udp : v6 ? GSO.tcp6 : GSO.tcp4;
  return frame(
    { gsoType, hdrLen: iphlen + l4hlen, gsoSize, csumStart: iphlen, csumOffset: proto === TCP ? 16 : 6 },
    big,
  );
}

function stats(): Buffer {
  return Buffer.alloc(OFFLOAD_STAT_COUNT * 4);
}

function split(input: Buffer, counters = stats()): Buffer[] | null {
  const out = Buffer.alloc(TUN_READ_RESERVE);
  const spans = Buffer.alloc(MAX_SEGMENTS_PER_FRAME * 8);
  const count = nativeIo().gsoSplit(input, out, spans, counters);
  if (count < 0) return null;
  return Array.from({ length: count }, (_, i) =>
    Buffer.from(out.subarray(spans.readUInt32LE(i * 8), spans.readUInt32LE(i * 8) + spans.readUInt32LE(i * 8 + 4))),
  );
}

function coalesce(packets: Buffer[], udp = false, counters = stats()): Buffer[] {
  const data = Buffer.concat(packets);
  const spans = Buffer.alloc(packets.length * 8);
  let offset = 0;
  packets.forEach((p, i) => {
    spans.writeUInt32LE(offset, i * 8);
    spans.writeUInt32LE(p.length, i * 8 + 4);
    offset += p.length;
  });
  const out = Buffer.alloc(data.length + packets.length * 10);
  const outSpans = Buffer.alloc(packets.length * 8);
  const frames = nativeIo().groCoalesce(data, spans, packets.length, udp, out, outSpans, counters);
  return Array.from({ length: frames }, (_, i) =>
    Buffer.from(
      out.subarray(outSpans.readUInt32LE(i * 8), outSpans.readUInt32LE(i * 8) + outSpans.readUInt32LE(i * 8 + 4)),
    ),
  );
}

const payloadOf = (p: Buffer, hl: number): Buffer => p.subarray(hl);
const timestamps = Buffer.from([1, 1, 8, 10, 0, 0, 0, 42, 0, 0, 0, 7]);

describeNative('TUN offload: splitting virtio_net_hdr segments (gsoSplit)', () => {
  it('splits a TCPv4 segment with options into MSS-sized packets: lengths, ids, seq, flags on the last, checksums', () => {
    const payload = Buffer.from(Array.from({ length: 3 * 1000 + 345 }, (_, i) => i & 0xff));
    const counters = stats();
    const packets = split(
      tsoFrame({ payload, seq: 0xfffffc00, flags: ACK | PSH | FIN | CWR, options: timestamps, id: 0xfffe }, 1000),
      counters,
    )!;
    expect(packets).toHaveLength(4);
    const hl = 20 + 32;
    packets.forEach((p, i) => {
      expect(checksumsValid(p)).toBe(true);
      expect(p.readUInt16BE(2)).toBe(p.length);
      expect(p.readUInt16BE(4)).toBe((0xfffe + i) & 0xffff);
      expect(p.readUInt32BE(24)).toBe((0xfffffc00 + i * 1000) >>> 0);
      const flags = p[33]!;
      expect(flags & (PSH | FIN)).toBe(i === 3 ? PSH | FIN : 0);
      expect(flags & CWR).toBe(i === 0 ? CWR : 0);
      expect(p.subarray(40, 52)).toEqual(timestamps);
      expect(p.length).toBe(hl + (i === 3 ? 345 : 1000));
    });
    expect(Buffer.concat(packets.map((p) => payloadOf(p, hl)))).toEqual(payload);
    expect(counters.readUInt32LE(OffloadStat.gsoFrames * 4)).toBe(1);
    expect(counters.readUInt32LE(OffloadStat.segments * 4)).toBe(4);
  });

  it('splits a TCPv6 segment; the payload length field and checksums follow each packet', () => {
    const payload = Buffer.alloc(2 * 1208 + 1, 7);
    const packets = split(tsoFrame({ v6: true, payload, flags: ACK | PSH }, 1208))!;
    expect(packets.map((p) => p.length)).toEqual([60 + 1208, 60 + 1208, 60 + 1]);
    for (const p of packets) {
      expect(p.readUInt16BE(4)).toBe(p.length - 40);
      expect(checksumsValid(p)).toBe(true);
    }
    expect(packets.map((p) => p[53]! & PSH)).toEqual([0, 0, PSH]);
  });

  it('splits a UDP (USO) segment into datagrams with their own length and checksum', () => {
    const payload = Buffer.alloc(3 * 1300, 9);
    const packets = split(tsoFrame({ proto: UDP, payload }, 1300))!;
    expect(packets).toHaveLength(3);
    for (const p of packets) {
      expect(p.readUInt16BE(24)).toBe(8 + 1300);
      expect(checksumsValid(p)).toBe(true);
    }
  });

  it('completes the checksum of a non-GSO packet that asks for it (NEEDS_CSUM)', () => {
    const p = packet({ payload: Buffer.from('hello, world') });
    p.writeUInt16BE(pseudo(p, false, TCP, p.length - 20), 36);
    const out = split(frame({ gsoType: GSO.none, csumStart: 20, csumOffset: 16 }, p))!;
    expect(out).toHaveLength(1);
    expect(checksumsValid(out[0]!)).toBe(true);
  });

  it('passes a non-GSO packet without NEEDS_CSUM through unchanged', () => {
    const p = packet({ payload: Buffer.from('as is') });
    expect(split(frame({ flags: 0, gsoType: GSO.none }, p))).toEqual([p]);
  });

  const malformed: [string, () => Buffer][] = [
    [
      'a csum_start that is not the transport header',
      () => {
        const f = tsoFrame({ payload: Buffer.alloc(3000) }, 1000);
        f.writeUInt16LE(24, 6);
        return f;
      },
    ],
    ['gso_size 0', () => tsoFrame({ payload: Buffer.alloc(3000) }, 0)],
    ['a gso_size that would make more than 1024 segments', () => tsoFrame({ payload: Buffer.alloc(60000) }, 8)],
    [
      'a TCPv4 gso_type on an IPv6 packet',
      () => {
        const f = tsoFrame({ v6: true, payload: Buffer.alloc(3000) }, 1000);
        f[1] = GSO.tcp4;
        return f;
      },
    ],
    [
      'a UDP gso_type on a TCP packet',
      () => {
        const f = tsoFrame({ payload: Buffer.alloc(3000) }, 1000);
        f[1] = GSO.udp;
        return f;
      },
    ],
    [
      'a TCP data offset beyond the packet',
      () => {
        const f = tsoFrame({ payload: Buffer.alloc(0) }, 1000);
        f[10 + 32] = 0xf0;
        return f;
      },
    ],
    ['a frame shorter than an IP header', () => Buffer.alloc(15)],
    [
      'a csum_offset beyond a non-GSO packet',
      () => frame({ gsoType: GSO.none, csumStart: 20, csumOffset: 500 }, packet({ payload: Buffer.alloc(10) })),
    ],
    [
      'an unknown IP version',
      () => {
        const f = tsoFrame({ payload: Buffer.alloc(3000) }, 1000);
        f[10] = 0x75;
        return f;
      },
    ],
  ];
  for (const [what, make] of malformed) {
    it(`drops and counts a frame with ${what}`, () => {
      const counters = stats();
      expect(split(make(), counters)).toBeNull();
      expect(counters.readUInt32LE(OffloadStat.invalid * 4)).toBe(1);
    });
  }

  it('never crashes on random frames (each is split or dropped and counted)', () => {
    const counters = stats();
    let seed = 12345;
    const random = (): number => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
    const valid = tsoFrame({ payload: Buffer.alloc(5000, 1), options: timestamps }, 1000);
    for (let i = 0; i < 3000; i++) {
      const f = Buffer.from(valid.subarray(0, 10 + Math.floor(random() * (valid.length - 10))));
      for (let k = 0; k < 4; k++) f[Math.floor(random() * Math.min(f.length, 80))] = Math.floor(random() * 256);
      const result = split(f, counters);
      if (result) for (const p of result) expect(p.length).toBeGreaterThan(0);
    }
    expect(counters.readUInt32LE(OffloadStat.framesRead * 4)).toBe(3000);
  });
});

describeNative('TUN offload: coalescing packets into GSO frames (groCoalesce)', () => {
  const segments = (spec: Omit<PacketSpec, 'payload' | 'seq'>, sizes: number[], start = 5000): Buffer[] => {
    let seq = start;
    return sizes.map((size, i) => {
      const p = packet({ ...spec, payload: Buffer.alloc(size, i + 1), seq, id: 100 + i });
      seq += size;
      return p;
    });
  };

  it('coalesces in-order TCPv4 segments of one flow into one frame, which splits back into the same packets', () => {
    const input = segments({ options: timestamps, flags: ACK }, [1000, 1000, 1000, 500]);
    input[3]![33] = ACK | PSH;
    setChecksum(input[3]!, false, 20, TCP);
    const counters = stats();
    const frames = coalesce(input, false, counters);
    expect(frames).toHaveLength(1);
    const f = frames[0]!;
    expect(f[0]).toBe(1); // NEEDS_CSUM
    expect(f[1]).toBe(GSO.tcp4);
    expect(f.readUInt16LE(4)).toBe(1000);
    expect(f.readUInt16LE(6)).toBe(20);
    expect(f.readUInt16LE(8)).toBe(16);
    expect(f.readUInt16BE(10 + 2)).toBe(52 + 3500);
    expect(counters.readUInt32LE(OffloadStat.coalesced * 4)).toBe(4);
    const back = split(f)!;
    expect(back.map((p) => p.subarray(52))).toEqual(input.map((p) => p.subarray(52)));
    expect(back.map((p) => p.readUInt32BE(24))).toEqual(input.map((p) => p.readUInt32BE(24)));
    expect(back[3]![33]! & PSH).toBe(PSH);
    for (const p of back) expect(checksumsValid(p)).toBe(true);
  });

  it('coalesces TCPv6 segments', () => {
    const input = segments({ v6: true }, [1200, 1200, 1200]);
    const frames = coalesce(input);
    expect(frames).toHaveLength(1);
    expect(frames[0]![1]).toBe(GSO.tcp6);
    expect(split(frames[0]!)!.map((p) => p.subarray(60))).toEqual(input.map((p) => p.subarray(60)));
  });

  it('keeps flows apart, starts a new frame at a sequence gap, and ends a frame after a short or PSH segment', () => {
    const a = segments({ sourcePort: 1 }, [1000, 1000, 1000]);
    const b = segments({ sourcePort: 2 }, [1000, 600, 1000]);
    const gap = segments({ sourcePort: 1 }, [1000], 9000);
    const frames = coalesce([a[0]!, b[0]!, a[1]!, b[1]!, a[2]!, b[2]!, gap[0]!]);
    const summary = frames.map((f) => ({ port: f.readUInt16BE(10 + 20), length: f.length - 10, gso: f[1] }));
    expect(summary).toEqual([
      { port: 1, length: 40 + 3000, gso: GSO.tcp4 },
      { port: 2, length: 40 + 1600, gso: GSO.tcp4 },
      { port: 2, length: 40 + 1000, gso: GSO.none },
      { port: 1, length: 40 + 1000, gso: GSO.none },
    ]);
  });

  it('does not coalesce a packet with a bad checksum, different options, or non-ACK flags', () => {
    const input = segments({ options: timestamps }, [1000, 1000, 1000, 1000]);
    input[1]![60] = input[1]![60]! ^ 0xff; // payload byte: checksum now wrong
    input[3]![45] = 43; // TSval differs
    setChecksum(input[3]!, false, 20, TCP);
    const syn = packet({ payload: Buffer.alloc(10), flags: 0x02 });
    const frames = coalesce([...input, syn]);
    expect(frames.every((f) => f[1] === GSO.none)).toBe(true);
    expect(frames).toHaveLength(5);
  });

  it('coalesces UDP datagrams only when asked to (the TUN has USO)', () => {
    const input = [0, 1, 2].map((i) => packet({ proto: UDP, payload: Buffer.alloc(1300, 3), id: 0x1234 + i }));
    expect(coalesce(input, false)).toHaveLength(3);
    const frames = coalesce(input, true);
    expect(frames).toHaveLength(1);
    expect(frames[0]![1]).toBe(GSO.udp);
    const back = split(frames[0]!)!;
    expect(back).toEqual(input);
  });

  it('writes plain frames (zero header) for packets that are not TCP or UDP', () => {
    const icmp = packet({ payload: Buffer.alloc(56) });
    icmp[9] = 1;
    const frames = coalesce([icmp]);
    expect(frames).toEqual([Buffer.concat([Buffer.alloc(10), icmp])]);
  });
});
