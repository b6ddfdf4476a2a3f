/**
 * What a handshake flood costs per packet: keyed BLAKE2s per backend (the native addon beside
 * @noble/hashes, the fallback), and the whole responder path for one valid-mac1 initiation under load
 * (classify, mac1, mac2 absent, cookie, cookie reply sealed and handed to transmit).
 */
import { WireGuardDevice } from '../agent/core/device';
import type { Endpoint } from '../agent/core/peer';
import { javascriptMac, nativeMac, MAC_LENGTH, type MacBackend } from '../agent/crypto/mac';
import { generatePrivateKey, randomBytes } from '../agent/crypto/primitives';
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

export function runCookieBench(): BenchResult[] {
  return [...macBench(), cookiePathBench()];
}
