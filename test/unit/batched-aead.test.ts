/**
 * The core's hooks for batched transport AEAD in an I/O shell (transmitUnsealed on send,
 * transportReceiveKey + receiveDatagram(..., opened) on receive), driven with the native layer's
 * aeadBatch as the userspace device drives them: same packets delivered, forgeries still dropped.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parsePrefix } from '../../common/ip';
import { WireGuardDevice } from '../../agent/core/device';
import type { Endpoint } from '../../agent/core/peer';
import { generatePrivateKey } from '../../agent/crypto/primitives';
import { packageRoot } from '../../agent/package-root';
import { nativeIo } from '../../agent/wg/native';
import { ipv4Packet } from '../support/fake-network';

const built = existsSync(join(packageRoot(), 'build', 'Release', 'wiremesh_io.node'));
const describeNative = built || process.env.CI === 'true' ? describe : describe.skip;

/** Seals (or opens) one transport message in place with aeadBatch, as the shell does for a run. */
function batch(seal: boolean, key: Uint8Array, message: Buffer, counter: bigint): boolean {
  const spans = Buffer.alloc(8);
  spans.writeUInt32LE(16, 0);
  spans.writeUInt32LE(message.length - (seal ? 32 : 16), 4);
  const counters = Buffer.alloc(8);
  counters.writeBigUInt64LE(counter, 0);
  return nativeIo().aeadBatch(seal, key, message, spans, counters, 1) === 1;
}

describeNative('batched transport AEAD through the core hooks', () => {
  const now = 1_000_000;
  const endpoints: Record<'a' | 'b', Endpoint> = {
    a: { address: '198.18.0.1', port: 51820 },
    b: { address: '198.18.0.2', port: 51820 },
  };
  const wire: { to: 'a' | 'b'; datagram: Buffer }[] = [];
  const delivered: Buffer[] = [];
  const keys = { a: generatePrivateKey(), b: generatePrivateKey() };
  // a seals through transmitUnsealed; b opens in the shell's way.
  const a = new WireGuardDevice({
    outputs: {
      transmit: (datagram) => wire.push({ to: 'b', datagram: Buffer.from(datagram) }),
      transmitUnsealed: (data, length, key) => {
        const copy = Buffer.from(data.subarray(0, length));
        expect(batch(true, key, copy, copy.readBigUInt64LE(8))).toBe(true);
        wire.push({ to: 'b', datagram: copy });
      },
      deliver: () => undefined,
    },
  });
  const b = new WireGuardDevice({
    outputs: {
      transmit: (datagram) => wire.push({ to: 'a', datagram: Buffer.from(datagram) }),
      deliver: (packet) => delivered.push(Buffer.from(packet)),
    },
  });
  a.setPrivateKey(keys.a);
  b.setPrivateKey(keys.b);
  const peerOfA = a.addPeer(b.publicKey!)!;
  peerOfA.endpoint = endpoints.b;
  a.allowedIps.insert(parsePrefix('10.0.2.0/24'), peerOfA);
  const peerOfB = b.addPeer(a.publicKey!)!;
  b.allowedIps.insert(parsePrefix('10.0.1.0/24'), peerOfB);

  /** Delivers what is on the wire; b opens transport payloads first when it can. */
  const flush = (tamper?: (datagram: Buffer) => void): void => {
    for (let round = 0; wire.length > 0 && round < 10; round++) {
      for (const { to, datagram } of wire.splice(0)) {
        if (to === 'a') {
          a.receiveDatagram(datagram, endpoints.b, now);
          continue;
        }
        tamper?.(datagram);
        const key = datagram[0] === 4 ? b.transportReceiveKey(datagram, 0, now) : null;
        const opened = key !== null && batch(false, key, datagram, datagram.readBigUInt64LE(8));
        b.receiveDatagram(datagram, endpoints.a, now, opened);
      }
    }
  };

  it('delivers packets sealed and opened in batches, byte for byte', () => {
    a.sendPacket(ipv4Packet('10.0.1.1', '10.0.2.1', Buffer.from('first')), now);
    flush();
    for (let i = 0; i < 5; i++) a.sendPacket(ipv4Packet('10.0.1.1', '10.0.2.1', Buffer.from(`packet ${i}`)), now);
    flush();
    expect(delivered.map((p) => p.subarray(20).toString())).toEqual([
      'first',
      'packet 0',
      'packet 1',
      'packet 2',
      'packet 3',
      'packet 4',
    ]);
  });

  it('drops and counts a forged transport message the shell could not open', () => {
    const before = b.drops.get('decrypt-failed') ?? 0;
    const count = delivered.length;
    a.sendPacket(ipv4Packet('10.0.1.1', '10.0.2.1', Buffer.from('forged')), now);
    flush((datagram) => {
      if (datagram[0] === 4) datagram[datagram.length - 20] = datagram[datagram.length - 20]! ^ 1;
    });
    expect(delivered).toHaveLength(count);
    expect(b.drops.get('decrypt-failed')).toBe(before + 1);
  });

  it('has no receive key for an unknown receiver index', () => {
    const datagram = Buffer.alloc(48);
    datagram[0] = 4;
    datagram.writeUInt32LE(0xdeadbeef, 4);
    expect(b.transportReceiveKey(datagram, 0, now)).toBeNull();
  });
});
