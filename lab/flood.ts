/**
 * A handshake flood: WireGuard initiations carrying a valid mac1 for a responder's public key (so they
 * pass the first check and cost the responder a cookie reply), from random ephemerals and sender
 * indices, sent at a target rate for a bounded time with sendmmsg through the native addon.
 *
 * Run inside a namespace a test or bench created (never toward a real host):
 *   node dist/lab/flood.js TARGET_IP:PORT RESPONDER_PUBLIC_KEY_BASE64 RATE_PER_SECOND SECONDS
 * It prints one JSON line: {"sent":N,"seconds":S,"rate":R}.
 */
import { performance } from 'node:perf_hooks';
import { CookieGenerator } from '../agent/core/cookie';
import { INITIATION_LENGTH, MessageType, writeUint32 } from '../agent/core/messages';
import { randomBytes } from '../agent/crypto/primitives';
import { MAX_BATCH, SEND_META_SIZE, nativeIo } from '../agent/wg/native';
import { parseEndpoint } from '../agent/wg/endpoint';

/** Distinct packets cycled through, so no two consecutive initiations are identical. */
const DISTINCT_PACKETS = MAX_BATCH * 8;
const SOCKET_BUFFER = 4 * 1024 * 1024;
/** A flood never runs longer than this, whatever it is asked. */
export const MAX_FLOOD_SECONDS = 60;

/** `count` initiations toward `responderPublicKey`: random body, valid mac1, no mac2. */
export function floodInitiations(responderPublicKey: Uint8Array, count: number): Buffer[] {
  const macs = new CookieGenerator(responderPublicKey);
  const packets: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const packet = randomBytes(INITIATION_LENGTH);
    writeUint32(packet, 0, MessageType.Initiation);
    macs.addMacs(packet, 0);
    packets.push(packet);
  }
  return packets;
}

export interface FloodResult {
  /** Datagrams the kernel accepted. */
  sent: number;
  seconds: number;
  rate: number;
}

/** Sends `packets` round-robin to `target` at `rate` per second for `seconds`. */
export async function flood(target: string, packets: Buffer[], rate: number, seconds: number): Promise<FloodResult> {
  const io = nativeIo();
  const to = parseEndpoint(target);
  if (to.family !== 4) throw new Error('flood: IPv4 targets only');
  const [fd] = io.udpOpen(4, 0, SOCKET_BUFFER, SOCKET_BUFFER, 0);
  // All packets laid out once; each send picks MAX_BATCH consecutive records.
  const data = Buffer.concat(packets);
  const meta = Buffer.alloc(packets.length * SEND_META_SIZE);
  for (let i = 0; i < packets.length; i++) {
    const record = i * SEND_META_SIZE;
    meta.writeUInt32LE(i * INITIATION_LENGTH, record);
    meta.writeUInt32LE(INITIATION_LENGTH, record + 4);
    meta[record + 8] = 4;
    meta.writeUInt16LE(to.port, record + 10);
    meta.set(to.addressBytes, record + 12);
  }
  const batches = Math.floor(packets.length / MAX_BATCH);
  const duration = Math.min(seconds, MAX_FLOOD_SECONDS) * 1000;
  const start = performance.now();
  let sent = 0;
  let accepted = 0;
  let batch = 0;
  try {
    for (;;) {
      const elapsed = performance.now() - start;
      if (elapsed >= duration) break;
      const due = Math.floor((rate * elapsed) / 1000) - sent;
      if (due <= 0) {
        await new Promise((resolve) => setTimeout(resolve, 1));
        continue;
      }
      const count = Math.min(due, MAX_BATCH);
      const offset = batch * MAX_BATCH * SEND_META_SIZE;
      // What the kernel does not take (a full send buffer) is lost, as on a wire: counted, not retried.
      accepted += io.sendBatch(fd, data, meta.subarray(offset, offset + count * SEND_META_SIZE), count);
      sent += count;
      batch = (batch + 1) % batches;
    }
  } finally {
    io.closeFd(fd);
  }
  const secondsTaken = (performance.now() - start) / 1000;
  return { sent: accepted, seconds: secondsTaken, rate: accepted / secondsTaken };
}

async function main(args: string[]): Promise<void> {
  const [target, key, rate, seconds] = args;
  if (!target || !key || !rate || !seconds) {
    throw new Error('usage: flood TARGET_IP:PORT RESPONDER_PUBLIC_KEY_BASE64 RATE_PER_SECOND SECONDS');
  }
  const publicKey = Buffer.from(key, 'base64');
  if (publicKey.length !== 32) throw new Error('flood: the public key must be 32 bytes of base64');
  const result = await flood(target, floodInitiations(publicKey, DISTINCT_PACKETS), Number(rate), Number(seconds));
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    process.stderr.write(`${(error as Error).message}\n`);
    process.exit(1);
  });
}
