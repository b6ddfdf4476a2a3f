/**
 * What a handshake flood costs per packet: keyed BLAKE2s per backend (the native addon beside
 * @noble/hashes, the fallback), and the whole responder path for one valid-mac1 initiation under load
 * (classify, mac1, mac2 absent, cookie, cookie reply sealed and handed to transmit): the core's own
 * path, one datagram at a time, and the userspace device's batch path (agent/wg/handshake-fast-path.ts:
 * one native triage and one native reply call per received batch; the send itself is not included).
 */
import { WireGuardDevice } from '../agent/core/device';
import type { Endpoint } from '../agent/core/peer';
import { javascriptMac, nativeMac, MAC_LENGTH, type MacBackend } from '../agent/crypto/mac';
import { generatePrivateKey, randomBytes } from '../agent/crypto/primitives';
import { HandshakeFastPath } from '../agent/wg/handshake-fast-path';
import { MAX_BATCH, RECV_META_SIZE, RECV_OFFSET_FIELD, nativeIo } from '../agent/wg/native';
import { nativeAddonAvailable } from '../agent/native-addon';
import { floodInitiations } from '../lab/flood';
import { measure, type BenchResult } from './harness';

/** mac1 covers the first 116 bytes of an initiation. */
const MAC1_INPUT = 116;

function macBench(): BenchResult[] {
  const key = randomBytes(32);
  const message = randomBytes(MAC1_INPUT + MAC_LENGTH);
  const backends: MacBackend[] = [nativeMac(), javascriptMac].filter((b): b is MacBackend => b !== null);
  const results = backends.map((backend) =>
    measure(`mac1 verify, ${MAC1_INPUT} B (${backend.name})`, () => backend.macVerify(key, message, MAC1_INPUT), {
      batch: 64,
    }),
  );
  const js = results[results.length - 1]!;
  for (const result of results.slice(0, -1))
    result.note = `${(js.microsPerOp / result.microsPerOp).toFixed(1)}x faster than ${javascriptMac.name}`;
  return results;
}

/** A responder under load answering valid-mac1 initiations from a few sources with cookie replies. */
function cookiePathBench(): BenchResult {
  let replies = 0;
  const responder = new WireGuardDevice({
    underLoadHandshakesPerSecond: 0,
    outputs: { transmit: () => replies++, deliver: () => undefined },
  });
  responder.setPrivateKey(generatePrivateKey());
  const packets = floodInitiations(responder.publicKey!, 1024);
  const sources: Endpoint[] = [1, 2, 3, 4].map((host) => ({ address: `198.18.0.${host}`, port: 40000 + host }));
  let i = 0;
  const result = measure(
    'cookie path per flood packet (mac1 + cookie reply)',
    () => {
      responder.receiveDatagram(packets[i % packets.length]!, sources[i % sources.length]!, 1000);
      i++;
    },
    { batch: 64 },
  );
  if (replies === 0) throw new Error('no cookie replies');
  return result;
}

/** The same work a received batch of MAX_BATCH initiations from four sources at a time. */
function batchPathBench(): BenchResult {
  const responder = new WireGuardDevice({
    underLoadHandshakesPerSecond: 0,
    outputs: { transmit: () => undefined, deliver: () => undefined },
  });
  responder.setPrivateKey(generatePrivateKey());
  const io = nativeIo();
  const fastPath = new HandshakeFastPath(io, responder);
  const slot = 256;
  const data = Buffer.alloc(MAX_BATCH * slot);
  const meta = Buffer.alloc(MAX_BATCH * RECV_META_SIZE);
  floodInitiations(responder.publicKey!, MAX_BATCH).forEach((packet, i) => {
    packet.copy(data, i * slot);
    const record = i * RECV_META_SIZE;
    meta.writeUInt32LE(packet.length, record);
    meta[record + 4] = 4;
    meta.writeUInt16LE(40000 + (i % 4), record + 6);
    meta.set([198, 18, 0, 1 + (i % 4)], record + 8);
    meta.writeUInt32LE(i * slot, record + RECV_OFFSET_FIELD);
  });
  // Any one datagram through the core's path puts a core with threshold 0 under load.
  responder.receiveDatagram(data.subarray(0, 148), { address: '198.18.0.1', port: 40000 }, 1000);
  // sendBatch to fd -1 sends nothing: the figure is the userspace work.
  const socket = { fd: -1, sendState: Buffer.alloc(12) };
  const result = measure(`cookie path per flood packet, batches of ${MAX_BATCH} (native triage + replies)`, () => {
    fastPath.triage(data, slot, meta, MAX_BATCH);
    if (fastPath.answer(data, slot, meta, MAX_BATCH, socket, 1000) !== MAX_BATCH) throw new Error('no cookie replies');
  });
  return { ...result, microsPerOp: result.microsPerOp / MAX_BATCH, opsPerSecond: result.opsPerSecond * MAX_BATCH };
}

export function runCookieBench(): BenchResult[] {
  return [...macBench(), cookiePathBench(), ...(nativeAddonAvailable() ? [batchPathBench()] : [])];
}
