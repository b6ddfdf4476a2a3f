import { randomBytes } from '../../agent/crypto/primitives';
import {
  KEEPALIVE_TIMEOUT,
  MAX_TIMER_HANDSHAKES,
  REJECT_AFTER_TIME,
  REKEY_AFTER_MESSAGES,
  REKEY_TIMEOUT,
  ZERO_KEY_MATERIAL_AFTER,
} from '../../agent/core/constants';
import { paddedLength } from '../../agent/core/messages';
import { MessageType } from '../../agent/core/messages';
import { FakeNetwork, ipv4Packet, ipv6Packet, messageType, type Node } from '../support/fake-network';

const A_TO_B = (payload = 'ping'): Buffer => ipv4Packet('10.0.1.1', '10.0.2.1', Buffer.from(payload));
const B_TO_A = (payload = 'pong'): Buffer => ipv4Packet('10.0.2.1', '10.0.1.1', Buffer.from(payload));

function pair(options: { presharedKey?: Buffer; underLoad?: number } = {}): { net: FakeNetwork; a: Node; b: Node } {
  const net = new FakeNetwork();
  const deviceOptions = options.underLoad === undefined ? {} : { underLoadHandshakesPerSecond: options.underLoad };
  const a = net.node('a', '198.18.0.1');
  const b = net.node('b', '198.18.0.2', deviceOptions);
  const psk = options.presharedKey ? { presharedKey: options.presharedKey } : {};
  a.connect(b, ['10.0.2.0/24', 'fd00:2::/64'], psk);
  b.connect(a, ['10.0.1.0/24', 'fd00:1::/64'], psk);
  return { net, a, b };
}

function established(): { net: FakeNetwork; a: Node; b: Node } {
  const p = pair();
  p.a.send(A_TO_B('first'));
  p.net.flush();
  expect(p.b.delivered).toHaveLength(1);
  return p;
}

function payloadsOf(node: Node): string[] {
  return node.delivered.map((packet) => packet.subarray(20).toString());
}

describe('handshake and transport between two in-memory peers', () => {
  it.each([
    ['without a preshared key', undefined],
    ['with a preshared key', randomBytes(32)],
  ])('completes a handshake and carries data both ways %s', (_label, presharedKey) => {
    const { net, a, b } = pair(presharedKey ? { presharedKey } : {});
    a.send(A_TO_B('hello b'));
    expect(net.inFlight.map((f) => messageType(f.datagram))).toEqual([MessageType.Initiation]);
    expect(net.inFlight[0]!.datagram).toHaveLength(148);
    net.flush();
    expect(payloadsOf(b)).toEqual(['hello b']);
    b.send(B_TO_A('hello a'));
    net.flush();
    expect(payloadsOf(a)).toEqual(['hello a']);
    expect(a.events.some((e) => e.type === 'handshake-complete' && e.role === 'initiator')).toBe(true);
    expect(b.events.some((e) => e.type === 'handshake-complete' && e.role === 'responder')).toBe(true);
    expect(a.peerFor(b).lastHandshakeUnixMs).toBe(net.now);
    expect(a.peerFor(b).txBytes).toBeGreaterThan(148);
  });

  it('carries IPv6 inner packets', () => {
    const { net, a, b } = pair();
    a.send(ipv6Packet('fd00:1::1', 'fd00:2::1', Buffer.from('six')));
    net.flush();
    expect(b.delivered[0]!.subarray(40).toString()).toBe('six');
  });

  it('fails the handshake when the preshared keys differ', () => {
    const net = new FakeNetwork();
    const a = net.node('a', '198.18.0.1');
    const b = net.node('b', '198.18.0.2');
    a.connect(b, ['10.0.2.0/24'], { presharedKey: randomBytes(32) });
    b.connect(a, ['10.0.1.0/24'], { presharedKey: randomBytes(32) });
    a.send(A_TO_B());
    net.flush();
    expect(b.delivered).toHaveLength(0);
    expect(a.drops('handshake-decrypt-failed')).toBe(1);
  });

  it('pads transport plaintext to a multiple of 16, capped at the MTU', () => {
    expect(paddedLength(0, 1420)).toBe(0);
    expect(paddedLength(1, 1420)).toBe(16);
    expect(paddedLength(16, 1420)).toBe(16);
    expect(paddedLength(1419, 1420)).toBe(1420);
    expect(paddedLength(1420, 1420)).toBe(1420);
    const { net, a } = established();
    a.send(A_TO_B('x'.repeat(5))); // 25-byte IP packet -> 32 bytes padded
    expect(net.inFlight[0]!.datagram).toHaveLength(16 + 32 + 16);
  });

  it('the responder sends nothing under the new keys until the initiator confirms them', () => {
    const { net, a, b } = pair();
    a.send(A_TO_B());
    net.deliver(net.inFlight.shift()!); // initiation reaches b
    const response = net.inFlight.shift()!;
    expect(messageType(response.datagram)).toBe(MessageType.Response);
    expect(b.peerFor(a).current).toBeNull();
    expect(b.peerFor(a).next).not.toBeNull();
    b.send(B_TO_A('early'));
    // No transport data from b: it can only queue the packet (and try its own handshake).
    expect(net.inFlight.every((f) => messageType(f.datagram) !== MessageType.Transport)).toBe(true);
    net.inFlight = [];
    net.deliver(response);
    // a sends the staged packet at once; its arrival confirms the keys and releases b's packet.
    net.flush();
    expect(payloadsOf(b)).toEqual(['ping']);
    expect(payloadsOf(a)).toEqual(['early']);
    expect(b.peerFor(a).current).not.toBeNull();
  });

  it('sends a keepalive right after consuming the response when nothing is queued', () => {
    const { net, a, b } = pair();
    a.device.setPersistentKeepalive(a.peerFor(b), 25, net.now); // triggers the handshake, no data
    net.deliver(net.inFlight.shift()!);
    net.deliver(net.inFlight.shift()!);
    const keepalive = net.inFlight.shift()!;
    expect(messageType(keepalive.datagram)).toBe(MessageType.Transport);
    expect(keepalive.datagram).toHaveLength(32);
    net.deliver(keepalive);
    expect(b.peerFor(a).current).not.toBeNull();
  });
});

describe('timers', () => {
  it('rekeys after REKEY_AFTER_TIME under continuous traffic without losing a packet', () => {
    const { net, a, b } = established();
    const firstKeypair = a.peerFor(b).current;
    let sent = 0;
    for (let t = 0; t < 300; t++) {
      a.send(A_TO_B(`a${t}`));
      b.send(B_TO_A(`b${t}`));
      sent++;
      net.flush();
      net.advance(1000, { step: 1000 });
    }
    expect(b.delivered).toHaveLength(sent + 1);
    expect(a.delivered).toHaveLength(sent);
    expect(a.peerFor(b).current).not.toBe(firstKeypair);
    const initiations = net.log.filter((f) => messageType(f.datagram) === MessageType.Initiation);
    // One handshake at start, then a rekey roughly every REKEY_AFTER_TIME (the initiator's age rule).
    expect(initiations.length).toBeGreaterThanOrEqual(3);
    expect(initiations.length).toBeLessThanOrEqual(5);
  });

  it('rekeys after REKEY_AFTER_MESSAGES without losing a packet', () => {
    const { net, a, b } = established();
    net.advance(REKEY_TIMEOUT + 1000); // past the handshake rate limit
    const keypair = a.peerFor(b).current!;
    // The counter names the next nonce; the rekey comes once it passes REKEY_AFTER_MESSAGES.
    keypair.sendCounter = REKEY_AFTER_MESSAGES - 1n;
    a.send(A_TO_B('at the limit'));
    expect(net.inFlight.map((f) => messageType(f.datagram))).toEqual([MessageType.Transport]);
    net.flush();
    a.send(A_TO_B('over the limit'));
    expect(net.inFlight.map((f) => messageType(f.datagram))).toEqual([MessageType.Transport, MessageType.Initiation]);
    net.flush();
    a.send(A_TO_B('new keys'));
    net.flush();
    expect(a.peerFor(b).current).not.toBe(keypair);
    expect(payloadsOf(b)).toEqual(['first', 'at the limit', 'over the limit', 'new keys']);
  });

  it('stops using keys after REJECT_AFTER_TIME on both sides', () => {
    const { net, a, b } = established();
    net.advance(REJECT_AFTER_TIME - 1000, { keep: () => false });
    a.send(A_TO_B('late'));
    const late = net.lose().find((f) => messageType(f.datagram) === MessageType.Transport)!;
    expect(late).toBeDefined();
    net.advance(REKEY_TIMEOUT + 1000, { keep: () => false });
    net.deliver(late);
    expect(b.drops('expired-keypair')).toBe(1);
    expect(a.peerFor(b).current!.canSend(net.now)).toBe(false);
    // Nothing more goes out under the expired keys: the packet waits for a new handshake.
    a.send(A_TO_B('after expiry'));
    expect(net.inFlight).toHaveLength(0);
    expect(a.peerFor(b).staged).toHaveLength(1);
    net.advance(REKEY_TIMEOUT + 1000);
    expect(payloadsOf(b)).toEqual(['first', 'after expiry']);
  });

  it('retransmits the initiation when the response is lost, after REKEY_TIMEOUT plus jitter', () => {
    const { net, a, b } = pair();
    a.send(A_TO_B());
    const sentAt = net.now;
    net.flush((f) => messageType(f.datagram) !== MessageType.Response);
    expect(b.delivered).toHaveLength(0);
    net.advance(REKEY_TIMEOUT + 400, { step: 10 });
    const initiations = net.log.filter((f) => messageType(f.datagram) === MessageType.Initiation && f.from === a);
    expect(initiations).toHaveLength(2);
    const retransmitAt = a.events.filter((e) => e.type === 'handshake-initiated' && e.retry);
    expect(retransmitAt).toHaveLength(1);
    expect(payloadsOf(b)).toEqual(['ping']);
    expect(net.now - sentAt).toBeGreaterThanOrEqual(REKEY_TIMEOUT);
  });

  it('gives up after REKEY_ATTEMPT_TIME, purges queued packets and later zeroes the keys', () => {
    const { net, a, b } = pair();
    a.send(A_TO_B());
    net.advance(120_000, { step: 50, keep: () => false });
    const initiations = net.log.filter((f) => messageType(f.datagram) === MessageType.Initiation);
    expect(initiations).toHaveLength(MAX_TIMER_HANDSHAKES + 2);
    expect(a.events.filter((e) => e.type === 'handshake-gave-up')).toHaveLength(1);
    expect(a.peerFor(b).staged).toHaveLength(0);
    expect(a.drops('handshake-gave-up')).toBe(1);
    expect(a.peerFor(b).deadlines.zeroKeyMaterial).not.toBeNull();
  });

  it('zeroes all key material 3 x REJECT_AFTER_TIME after the last session', () => {
    const { net, a, b } = established();
    const keypair = a.peerFor(b).current!;
    net.advance(ZERO_KEY_MATERIAL_AFTER + 1000, { step: 1000, keep: () => false });
    expect(a.peerFor(b).keypairs()).toHaveLength(0);
    expect(b.peerFor(a).keypairs()).toHaveLength(0);
    expect(keypair.valid).toBe(false);
    expect(keypair.sendKey.every((byte) => byte === 0)).toBe(true);
  });

  it('sends a passive keepalive KEEPALIVE_TIMEOUT after receiving data it did not answer', () => {
    const { net, a } = established();
    const before = net.log.length;
    net.advance(KEEPALIVE_TIMEOUT + 100);
    const keepalives = net.log.slice(before).filter((f) => f.from !== a && f.datagram.length === 32);
    expect(keepalives).toHaveLength(1);
  });

  it('sends a persistent keepalive every interval while idle', () => {
    const { net, a, b } = established();
    a.device.setPersistentKeepalive(a.peerFor(b), 25, net.now);
    const start = net.log.length;
    net.advance(110_000, { step: 500 });
    const fromA = net.log.slice(start).filter((f) => f.from === a && f.datagram.length === 32);
    // Every authenticated packet (b's passive keepalive at 10 s too) restarts the 25 s interval.
    expect(fromA.length).toBe(4);
  });

  it('resolves simultaneous initiation from both sides', () => {
    const { net, a, b } = pair();
    a.send(A_TO_B('from a'));
    b.send(B_TO_A('from b'));
    expect(net.inFlight.map((f) => messageType(f.datagram))).toEqual([MessageType.Initiation, MessageType.Initiation]);
    net.advance(REKEY_TIMEOUT * 3, { step: 20 });
    expect(payloadsOf(b)).toContain('from a');
    expect(payloadsOf(a)).toContain('from b');
    a.send(A_TO_B('after'));
    b.send(B_TO_A('after'));
    net.flush();
    expect(payloadsOf(b)).toContain('after');
    expect(payloadsOf(a)).toContain('after');
  });
});

describe('what is dropped', () => {
  it('drops a replayed transport packet and accepts reordering within the window', () => {
    const { net, a, b } = established();
    for (let i = 0; i < 5; i++) a.send(A_TO_B(`p${i}`));
    const packets = net.lose();
    net.deliver(packets[4]!);
    net.deliver(packets[0]!);
    net.deliver(packets[2]!);
    net.deliver(packets[0]!);
    expect(payloadsOf(b).slice(1)).toEqual(['p4', 'p0', 'p2']);
    expect(b.drops('replayed-counter')).toBe(1);
  });

  it('drops a packet older than the replay window', () => {
    const { net, a, b } = established();
    a.send(A_TO_B('old'));
    const old = net.lose()[0]!;
    for (let i = 0; i < 8200; i++) a.send(A_TO_B('n'));
    net.flush();
    net.deliver(old);
    expect(b.drops('replayed-counter')).toBe(1);
  });

  it("drops a decrypted packet whose inner source is outside the sender's allowed IPs", () => {
    const { net, a, b } = established();
    a.send(ipv4Packet('10.9.9.9', '10.0.2.1', Buffer.from('spoofed')));
    net.flush();
    expect(payloadsOf(b)).toEqual(['first']);
    expect(b.drops('source-not-allowed')).toBe(1);
  });

  it('drops outbound packets with no route', () => {
    const { a } = pair();
    a.send(ipv4Packet('10.0.1.1', '10.7.7.7'));
    expect(a.drops('no-route')).toBe(1);
  });

  it('gives an unknown peer no answer at all', () => {
    const net = new FakeNetwork();
    const b = net.node('b', '198.18.0.2');
    const stranger = net.node('s', '198.18.0.3');
    stranger.connect(b, ['10.0.2.0/24']);
    stranger.send(A_TO_B());
    net.flush();
    expect(net.log.filter((f) => f.from === b)).toHaveLength(0);
    expect(b.drops('unknown-peer')).toBe(1);
  });

  it('rejects a replayed initiation by its timestamp and answers it with nothing', () => {
    const { net, a, b } = pair();
    a.send(A_TO_B());
    const initiation = net.inFlight[0]!;
    net.flush();
    net.advance(1000, { keep: () => false });
    const sentBefore = net.log.filter((f) => f.from === b).length;
    net.deliver(initiation);
    expect(b.drops('replayed-timestamp')).toBe(1);
    expect(net.log.filter((f) => f.from === b)).toHaveLength(sentBefore);
  });

  it('demands a cookie under load, then completes the handshake with mac2', () => {
    const { net, a, b } = pair({ underLoad: 0 });
    a.send(A_TO_B());
    net.flush();
    expect(b.drops('cookie-required')).toBe(1);
    expect(net.log.map((f) => messageType(f.datagram))).toEqual([MessageType.Initiation, MessageType.CookieReply]);
    expect(net.log[1]!.datagram).toHaveLength(64);
    // A cookie reply does not trigger a resend; the next retransmission carries mac2.
    net.advance(REKEY_TIMEOUT + 400, { step: 10 });
    expect(payloadsOf(b)).toEqual(['ping']);
    expect(b.drops('cookie-required')).toBe(1);
  });

  it('rate-limits handshakes per source when under load', () => {
    const { net, a, b } = pair({ underLoad: 0 });
    a.send(A_TO_B());
    net.flush(); // cookie reply stored
    const initiations: Buffer[] = [];
    for (let i = 0; i < 10; i++) {
      a.peerFor(b).lastSentHandshakeAt = -Infinity;
      a.send(A_TO_B());
      initiations.push(...net.lose().map((f) => f.datagram));
    }
    for (const initiation of initiations) b.device.receiveDatagram(initiation, a.endpoint, net.now);
    expect(b.drops('rate-limited')).toBeGreaterThan(0);
  });
});
