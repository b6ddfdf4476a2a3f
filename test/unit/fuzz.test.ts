import fc from 'fast-check';
import { MessageType } from '../../agent/core/messages';
import { FakeNetwork, ipv4Packet, messageType, type InFlight, type Node } from '../support/fake-network';

/** A live pair plus one valid message of every kind, to mutate. */
function scenario(): { net: FakeNetwork; a: Node; b: Node; samples: InFlight[] } {
  const net = new FakeNetwork();
  const a = net.node('a', '198.18.0.1');
  const b = net.node('b', '198.18.0.2', { underLoadHandshakesPerSecond: 1_000_000 });
  a.connect(b, ['10.0.2.0/24']);
  b.connect(a, ['10.0.1.0/24']);
  a.send(ipv4Packet('10.0.1.1', '10.0.2.1'));
  net.flush();
  b.send(ipv4Packet('10.0.2.1', '10.0.1.1'));
  net.flush();
  const samples = net.log.filter((f) => f.to === b);
  expect(new Set(samples.map((f) => messageType(f.datagram)))).toEqual(
    new Set([MessageType.Initiation, MessageType.Transport]),
  );
  return { net, a, b, samples };
}

function snapshot(node: Node, other: Node): unknown {
  const peer = node.peerFor(other);
  return {
    endpoint: peer.endpoint,
    current: peer.current,
    next: peer.next,
    previous: peer.previous,
    handshake: peer.handshake.kind,
    delivered: node.delivered.length,
    latestTimestamp: peer.latestTimestamp?.toString('hex'),
  };
}

type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'extend'; extra: Uint8Array }
  | { kind: 'overwrite'; at: number; bytes: Uint8Array };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('extend' as const), extra: fc.uint8Array({ minLength: 1, maxLength: 40 }) }),
  fc.record({
    kind: fc.constant('overwrite' as const),
    at: fc.nat(),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }),
  }),
);

function mutate(datagram: Buffer, m: Mutation): Buffer {
  const copy = Buffer.from(datagram);
  switch (m.kind) {
    case 'flip':
      copy[m.at % copy.length]! ^= 1 << m.bit;
      return copy;
    case 'truncate':
      return copy.subarray(0, m.at % copy.length);
    case 'extend':
      return Buffer.concat([copy, Buffer.from(m.extra)]);
    case 'overwrite':
      Buffer.from(m.bytes).copy(copy, m.at % copy.length);
      return copy;
  }
}

describe('hostile input never throws, never answers, never changes state', () => {
  it('random datagrams, including ones with valid type headers and sizes', () => {
    const { net, a, b } = scenario();
    const before = snapshot(b, a);
    const sentBefore = net.log.length;
    const header = fc.constantFrom(1, 2, 3, 4, 0, 5, 0x01000001);
    const length = fc.oneof(fc.constantFrom(148, 92, 64, 32, 48, 0, 1, 3, 4, 1500), fc.nat({ max: 2000 }));
    fc.assert(
      fc.property(
        header,
        length,
        fc.uint8Array({ maxLength: 2000 }),
        fc.nat({ max: 65535 }),
        (type, size, noise, port) => {
          const datagram = Buffer.alloc(size);
          Buffer.from(noise.subarray(0, size)).copy(datagram);
          if (size >= 4) datagram.writeUInt32LE(type >>> 0, 0);
          b.device.receiveDatagram(datagram, { address: '198.18.9.9', port }, net.now);
        },
      ),
      { numRuns: 3000 },
    );
    expect(snapshot(b, a)).toEqual(before);
    expect(net.log.length).toBe(sentBefore);
  });

  it('mutated copies of real handshake and transport messages', () => {
    const { net, a, b, samples } = scenario();
    const before = snapshot(b, a);
    const sentBefore = net.log.length;
    fc.assert(
      fc.property(fc.constantFrom(...samples), mutation, (sample, m) => {
        const datagram = mutate(sample.datagram, m);
        if (datagram.equals(sample.datagram)) return;
        b.device.receiveDatagram(datagram, { address: '198.18.7.7', port: 4444 }, net.now);
      }),
      { numRuns: 3000 },
    );
    expect(snapshot(b, a)).toEqual(before);
    expect(net.log.length).toBe(sentBefore);
    const drops = [...b.device.drops.values()].reduce((sum, n) => sum + n, 0);
    expect(drops).toBeGreaterThan(2000);
    // The session still works afterwards.
    a.send(ipv4Packet('10.0.1.1', '10.0.2.1', Buffer.from('still alive')));
    net.flush();
    expect(b.delivered.at(-1)!.subarray(20).toString()).toBe('still alive');
  });
});
