/**
 * UDP GSO on send and GRO on receive through the native layer, on loopback: a run of equal-size
 * datagrams to one destination leaves as one UDP_SEGMENT send and arrives as the same datagrams,
 * each with its own record; with GSO off in the send state they go one by one.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../agent/package-root';
import {
  GRO_MAX_SEGMENTS,
  MAX_BATCH,
  RECV_META_SIZE,
  SEND_META_SIZE,
  SEND_STATE_SIZE,
  UdpOffload,
  nativeIo,
} from '../../agent/wg/native';

const built = existsSync(join(packageRoot(), 'build', 'Release', 'wiremesh_io.node'));
const describeNative = built || process.env.CI === 'true' ? describe : describe.skip;

describeNative('UDP GSO and GRO on loopback', () => {
  const io = nativeIo();
  const sockets: number[] = [];
  afterAll(() => sockets.forEach((fd) => io.closeFd(fd)));

  function open(): [fd: number, port: number] {
    const [fd, port] = io.udpOpen(4, 0, 1 << 20, 1 << 20, 0);
    sockets.push(fd);
    return [fd, port];
  }

  /** Datagrams i = 0..count-1 of `size` bytes (the last `last` bytes), back to back, all to `port`. */
  function batch(
    count: number,
    size: number,
    last: number,
    port: number,
  ): { data: Buffer; meta: Buffer; payloads: Buffer[] } {
    const data = Buffer.alloc(count * size);
    const meta = Buffer.alloc(MAX_BATCH * SEND_META_SIZE);
    const payloads: Buffer[] = [];
    let offset = 0;
    for (let i = 0; i < count; i++) {
      const length = i === count - 1 ? last : size;
      const payload = Buffer.alloc(length, i + 1);
      payload.copy(data, offset);
      payloads.push(payload);
      const record = i * SEND_META_SIZE;
      meta.writeUInt32LE(offset, record);
      meta.writeUInt32LE(length, record + 4);
      meta[record + 8] = 4;
      meta.writeUInt16LE(port, record + 10);
      Buffer.from([127, 0, 0, 1]).copy(meta, record + 12);
      offset += length;
    }
    return { data, meta, payloads };
  }

  async function receive(fd: number, expected: number): Promise<Buffer[]> {
    const data = Buffer.alloc(MAX_BATCH * 65536);
    const meta = Buffer.alloc(MAX_BATCH * GRO_MAX_SEGMENTS * RECV_META_SIZE);
    const got: Buffer[] = [];
    for (let attempt = 0; attempt < 100 && got.length < expected; attempt++) {
      const count = io.recvBatch(fd, data, 65536, meta, MAX_BATCH);
      for (let i = 0; i < count; i++) {
        const length = meta.readUInt32LE(i * RECV_META_SIZE);
        const offset = meta.readUInt32LE(i * RECV_META_SIZE + 44);
        got.push(Buffer.from(data.subarray(offset, offset + length)));
      }
      if (count === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return got;
  }

  it('sends a run as one GSO send (the last datagram shorter) and receives every datagram through GRO', async () => {
    const [receiver, port] = open();
    const [sender] = open();
    const receiverBits = io.udpSetOffloads(receiver);
    const senderBits = io.udpSetOffloads(sender);
    if (!(senderBits & UdpOffload.GSO)) return; // a kernel without UDP_SEGMENT: the plain path covers it
    const state = Buffer.alloc(SEND_STATE_SIZE);
    state.writeUInt32LE(1, 0);
    const { data, meta, payloads } = batch(20, 1452, 700, port);
    expect(io.sendBatch(sender, data, meta, 20, state)).toBe(20);
    expect(state.readUInt32LE(8)).toBe(1); // one GSO send
    expect(state.readUInt32LE(4)).toBe(0); // no refusal
    const got = await receive(receiver, 20);
    expect(got).toEqual(payloads);
    expect(receiverBits & UdpOffload.GRO).toBe(UdpOffload.GRO);
  });

  it('sends datagrams one by one when GSO is off in the send state', async () => {
    const [receiver, port] = open();
    const [sender] = open();
    const state = Buffer.alloc(SEND_STATE_SIZE);
    const { data, meta, payloads } = batch(5, 1000, 1000, port);
    expect(io.sendBatch(sender, data, meta, 5, state)).toBe(5);
    expect(state.readUInt32LE(8)).toBe(0);
    expect(await receive(receiver, 5)).toEqual(payloads);
  });

  it('merges only runs to one destination', async () => {
    const [receiverA, portA] = open();
    const [receiverB, portB] = open();
    const [sender] = open();
    io.udpSetOffloads(sender);
    const state = Buffer.alloc(SEND_STATE_SIZE);
    state.writeUInt32LE(1, 0);
    const { data, meta, payloads } = batch(6, 800, 800, portA);
    // Records 2 and 3 go to B: three runs, three GSO sends.
    for (const i of [2, 3]) meta.writeUInt16LE(portB, i * SEND_META_SIZE + 10);
    expect(io.sendBatch(sender, data, meta, 6, state)).toBe(6);
    if (state.readUInt32LE(0) === 1) expect(state.readUInt32LE(8)).toBe(3);
    const a = await receive(receiverA, 4);
    const b = await receive(receiverB, 2);
    expect(a).toEqual([payloads[0], payloads[1], payloads[4], payloads[5]]);
    expect(b).toEqual([payloads[2], payloads[3]]);
  });
});
