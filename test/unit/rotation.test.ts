import { generatePrivateKey, publicKeyOf } from '../../agent/crypto/primitives';
import { REKEY_TIMEOUT } from '../../agent/core/constants';
import { FakeNetwork, ipv4Packet, messageType, type Node } from '../support/fake-network';
import { parsePrefix } from '../../common/ip';

function pair(): { net: FakeNetwork; a: Node; b: Node } {
  const net = new FakeNetwork();
  const a = net.node('a', '198.18.0.1');
  const b = net.node('b', '198.18.0.2');
  a.connect(b, ['10.0.2.0/24']);
  b.connect(a, ['10.0.1.0/24']);
  return { net, a, b };
}

/** Both directions exchange one packet every 100 ms for `ms`; returns how many were sent each way. */
function traffic(net: FakeNetwork, a: Node, b: Node, ms: number): number {
  let sent = 0;
  for (let t = 0; t < ms; t += 100) {
    a.send(ipv4Packet('10.0.1.1', '10.0.2.1', Buffer.from(`a${sent}`)));
    b.send(ipv4Packet('10.0.2.1', '10.0.1.1', Buffer.from(`b${sent}`)));
    sent++;
    net.advance(100, { step: 100 });
  }
  return sent;
}

describe('zero-downtime key rotation (userspace core)', () => {
  it('moves a session to the next key with no packet lost, then completes', () => {
    const { net, a, b } = pair();
    let sent = traffic(net, a, b, 2000);
    const oldPublic = a.publicKey;
    const nextPrivate = generatePrivateKey();
    const nextPublic = publicKeyOf(nextPrivate);
    // The peer learns our next key first (the mesh distributes it), then we start using it.
    b.device.setAlternatePublicKey(b.peerFor(a), nextPublic);
    a.device.beginKeyRotation(nextPrivate, net.now);
    expect(a.device.rotationStatus()).toMatchObject({ inProgress: true, complete: false });
    sent += traffic(net, a, b, 3000);
    const status = a.device.rotationStatus();
    expect(status.complete).toBe(true);
    expect(status.peers.map((p) => p.localKey)).toEqual(['next']);
    a.device.completeKeyRotation();
    b.device.promoteAlternatePublicKey(b.device.peer(nextPublic)!);
    expect(a.device.publicKey).toEqual(nextPublic);
    expect(b.device.peer(oldPublic)).toBeUndefined();
    sent += traffic(net, a, b, 3000);
    // Nothing was lost on either side, across the move and the promotion.
    expect(b.delivered).toHaveLength(sent);
    expect(a.delivered).toHaveLength(sent);
    // After promotion, fresh handshakes in both directions use the new key.
    net.advance(200_000, { step: 1000 });
    a.send(ipv4Packet('10.0.1.1', '10.0.2.1', Buffer.from('later')));
    net.flush();
    expect(b.delivered.at(-1)!.subarray(20).toString()).toBe('later');
  });

  it('answers handshakes addressed to either key while rotating', () => {
    const { net, a, b } = pair();
    const nextPrivate = generatePrivateKey();
    a.device.beginKeyRotation(nextPrivate, net.now);
    // b still addresses a's current key: a must answer it with the current key.
    b.send(ipv4Packet('10.0.2.1', '10.0.1.1', Buffer.from('to the current key')));
    net.flush();
    expect(a.delivered.map((p) => p.subarray(20).toString())).toEqual(['to the current key']);
    expect(a.peerFor(b).localKeyInUse).toBe('current');
  });

  it('moves a session the peer initiated to the next key shortly after', () => {
    const { net, a, b } = pair();
    const nextPrivate = generatePrivateKey();
    b.device.setAlternatePublicKey(b.peerFor(a), publicKeyOf(nextPrivate));
    a.device.beginKeyRotation(nextPrivate, net.now);
    net.lose(); // a had no endpoint-known session yet; b initiates toward the current key
    const sent = traffic(net, a, b, 2 * REKEY_TIMEOUT + 1000);
    expect(a.device.rotationStatus().complete).toBe(true);
    expect(a.delivered.length + b.delivered.length).toBe(2 * sent);
  });

  it('falls back to the current key for a peer that does not know the next one', () => {
    const { net, a, b } = pair();
    traffic(net, a, b, 1000);
    a.device.beginKeyRotation(generatePrivateKey(), net.now);
    const sent = traffic(net, a, b, 3 * REKEY_TIMEOUT);
    // Two initiations with the next key went unanswered; then a stayed with the current key.
    expect(b.drops('unknown-peer')).toBe(2);
    expect(a.peerFor(b).unansweredNextKeyInitiations).toBe(2);
    expect(a.device.rotationStatus()).toMatchObject({ inProgress: true, complete: false });
    expect(a.peerFor(b).localKeyInUse).toBe('current');
    // The old session carried traffic all along: nothing lost.
    expect(b.delivered.length).toBe(sent + 10);
  });

  it('tries the next key again when the fallback to the current one goes unanswered too (the peer came back knowing only the next key)', () => {
    const { net, a, b } = pair();
    traffic(net, a, b, 1000);
    const oldPublic = a.publicKey;
    const nextPrivate = generatePrivateKey();
    const nextPublic = publicKeyOf(nextPrivate);
    b.device.setAlternatePublicKey(b.peerFor(a), nextPublic);
    a.device.beginKeyRotation(nextPrivate, net.now);
    traffic(net, a, b, 2000);
    expect(a.device.rotationStatus().complete).toBe(true);
    // b goes away: a's new handshake after 15 s without answers and its retries every 5 s (next,
    // next, then the current key) are lost.
    for (let t = 0; t < 27_000; t += 100) {
      a.send(ipv4Packet('10.0.1.1', '10.0.2.1', Buffer.from('lost')));
      net.advance(100, { keep: () => false });
    }
    // b comes back knowing a only by its next key, and cannot dial a (no endpoint: a group's
    // standby taking over, whose document names a's next key as its public key).
    b.device.removePeer(b.device.peer(nextPublic) ?? b.device.peer(oldPublic)!);
    const entry = b.device.addPeer(nextPublic)!;
    b.device.allowedIps.insert(parsePrefix('10.0.1.0/24'), entry);
    const before = b.delivered.length;
    for (let t = 0; t < 2 * REKEY_TIMEOUT + 1000; t += 100) {
      a.send(ipv4Packet('10.0.1.1', '10.0.2.1', Buffer.from('again')));
      net.advance(100);
    }
    expect(b.delivered.length).toBeGreaterThan(before);
    expect(a.peerFor(b).localKeyInUse).toBe('next');
  });

  describe('beside a one-key peer that re-creates our entry under the next key', () => {
    /** b, a one-key device, replaces a's entry with one for a's next key and handshakes at once. */
    function recreateEntry(net: FakeNetwork, b: Node, oldPublic: Buffer, nextPublic: Buffer): void {
      const entry = b.device.peer(oldPublic)!;
      const endpoint = entry.endpoint;
      b.device.removePeer(entry);
      const renamed = b.device.addPeer(nextPublic)!;
      renamed.endpoint = endpoint;
      b.device.allowedIps.insert(parsePrefix('10.0.1.0/24'), renamed);
      b.device.setPersistentKeepalive(renamed, 1, net.now);
    }

    function rotateAndRecreate(completeFirst: boolean): { net: FakeNetwork; a: Node; b: Node; sent: number } {
      const { net, a, b } = pair();
      let sent = traffic(net, a, b, 1000);
      const oldPublic = a.publicKey;
      const nextPrivate = generatePrivateKey();
      a.device.beginKeyRotation(nextPrivate, net.now);
      // b does not take a's next key: a's two next-key initiations go unanswered, it stays on the old one.
      sent += traffic(net, a, b, 3 * REKEY_TIMEOUT);
      expect(a.peerFor(b).localKeyInUse).toBe('current');
      if (completeFirst) a.device.completeKeyRotation();
      recreateEntry(net, b, oldPublic, publicKeyOf(nextPrivate));
      // The initiation reaches a, a answers; before b's confirmation arrives, a sends.
      const [initiation] = net.lose();
      net.deliver(initiation!);
      a.send(ipv4Packet('10.0.1.1', '10.0.2.1', Buffer.from('in the round trip')));
      net.flush();
      return { net, a, b, sent: sent + 1 };
    }

    it.each([
      ['while a still holds both keys', false],
      ['after a completed its rotation', true],
    ])('stages what it sends in the handshake round trip instead of losing it (%s)', (_what, completeFirst) => {
      const { net, a, b, sent } = rotateAndRecreate(completeFirst);
      expect(b.delivered.at(-1)!.subarray(20).toString()).toBe('in the round trip');
      expect(b.delivered).toHaveLength(sent);
      expect(b.drops('unknown-index')).toBe(0);
      // One handshake, b's: a did not start one of its own beside it.
      const initiations = net.log.filter((entry) => messageType(entry.datagram) === 1);
      expect(initiations.at(-1)!.from).toBe(b);
      expect(a.peerFor(b).current!.retiredLocalKey).toBe(false);
    });
  });
});
