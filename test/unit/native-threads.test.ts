/**
 * The native addon is called from several data-plane threads at once (agent/wg/send-threads.ts):
 * its batch state (EVP context, sendmmsg/GRO arrays) is per thread. Two worker threads seal and
 * open batches concurrently with different keys, and every result must match libsodium's.
 */
import { createHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { packageRoot } from '../../agent/package-root';
import { aeadSeal } from '../../agent/crypto/primitives';

const BATCH = 64;
const ROUNDS = 300;
const PAYLOAD = 1400;

/** Runs in each worker: ROUNDS batches sealed in place, then opened again; returns a digest of all sealed bytes. */
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const io = require(workerData.root + '/node_modules/node-gyp-build')(workerData.root);
const { key, batch, rounds, payload } = workerData;
const hash = createHash('sha256');
let failures = 0;
for (let round = 0; round < rounds; round++) {
  const data = Buffer.alloc(batch * (payload + 16));
  const spans = Buffer.alloc(batch * 8);
  const counters = Buffer.alloc(batch * 8);
  for (let i = 0; i < batch; i++) {
    data.fill((round + i) & 0xff, i * (payload + 16), i * (payload + 16) + payload);
    spans.writeUInt32LE(i * (payload + 16), i * 8);
    spans.writeUInt32LE(payload, i * 8 + 4);
    counters.writeBigUInt64LE(BigInt(round * batch + i), i * 8);
  }
  if (io.aeadBatch(true, Buffer.from(key), data, spans, counters, batch) !== batch) failures++;
  hash.update(data);
  for (let i = 0; i < batch; i++) spans.writeUInt32LE(payload + 16, i * 8 + 4);
  if (io.aeadBatch(false, Buffer.from(key), data, spans, counters, batch) !== batch) failures++;
}
parentPort.postMessage({ digest: hash.digest('hex'), failures });
`;

function expectedDigest(key: Buffer): string {
  const hash = createHash('sha256');
  for (let round = 0; round < ROUNDS; round++) {
    for (let i = 0; i < BATCH; i++) {
      const plaintext = Buffer.alloc(PAYLOAD, (round + i) & 0xff);
      const out = Buffer.alloc(PAYLOAD + 16);
      aeadSeal(key, BigInt(round * BATCH + i), plaintext, null, out);
      hash.update(out);
    }
  }
  return hash.digest('hex');
}

function run(key: Buffer): Promise<{ digest: string; failures: number }> {
  const worker = new Worker(WORKER, {
    eval: true,
    workerData: { root: packageRoot(), key, batch: BATCH, rounds: ROUNDS, payload: PAYLOAD },
  });
  return new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
}

describe('native addon from two threads at once', () => {
  it('seals and opens batches in both threads exactly as libsodium does', async () => {
    const keys = [Buffer.alloc(32, 1), Buffer.alloc(32, 2)];
    const results = await Promise.all(keys.map(run));
    expect(results.map((r) => r.failures)).toEqual([0, 0]);
    expect(results.map((r) => r.digest)).toEqual(keys.map(expectedDigest));
  });
});
