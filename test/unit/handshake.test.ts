import { generatePrivateKey, publicKeyOf } from '../../agent/crypto/primitives';
import { CookieChecker } from '../../agent/core/cookie';
import { Handshakes, type IndexEntry } from '../../agent/core/handshake';
import { IndexTable } from '../../agent/core/index-table';
import { WIREGUARD_PROLOGUE } from '../../agent/core/noise';
import { Peer } from '../../agent/core/peer';

/** One side of a handshake: its static key, its index table and one peer (the other side). */
function side(name: string, underLoadThreshold = 1000) {
  const privateKey = generatePrivateKey();
  const publicKey = publicKeyOf(privateKey);
  const indices = new IndexTable<IndexEntry>();
  const peers: Peer[] = [];
  const handshakes = new Handshakes({
    prologue: WIREGUARD_PROLOGUE,
    underLoadThreshold,
    indices,
    peer: (key) => peers.find((p) => p.publicKey.equals(key) || p.alternatePublicKey?.equals(key)),
  });
  handshakes.identities.current = { privateKey, publicKey, cookies: new CookieChecker(publicKey) };
  const endpoint = { address: name === 'a' ? '198.18.0.1' : '198.18.0.2', port: 51820 };
  return { handshakes, indices, peers, publicKey, endpoint };
}

function pair(underLoadThreshold?: number) {
  const a = side('a');
  const b = side('b', underLoadThreshold);
  const bAtA = new Peer(Buffer.from(b.publicKey));
  bAtA.endpoint = b.endpoint;
  a.peers.push(bAtA);
  const aAtB = new Peer(Buffer.from(a.publicKey));
  b.peers.push(aAtB);
  return { a, b, bAtA, aAtB };
}

describe('Handshakes (WireGuard framing around Noise)', () => {
  it('runs initiation and response to a keypair on each side, sharing keys and indices', () => {
    const { a, b, bAtA, aAtB } = pair();
    const initiation = a.handshakes.createInitiation(bAtA, 1000, Date.now())!;
    expect(initiation).toHaveLength(148);
    expect(bAtA.handshake.kind).toBe('initiation-sent');
    expect(a.indices.size).toBe(1);

    const admitted = b.handshakes.admit(initiation, a.endpoint, 1000);
    if ('drop' in admitted) throw new Error(admitted.drop);
    expect(admitted.slot).toBe('current');
    const consumed = b.handshakes.consumeInitiation(admitted.slot, admitted.identity, initiation, 1000);
    if (typeof consumed === 'string') throw new Error(consumed);
    expect(consumed.peer).toBe(aAtB);
    const response = b.handshakes.createResponse(aAtB, consumed.consumed, 'current', initiation, 1000)!;
    expect(response.message).toHaveLength(92);
    expect(b.indices.get(response.keypair.localIndex)).toEqual({ peer: aAtB, keypair: response.keypair });

    const back = a.handshakes.admit(response.message, b.endpoint, 1001);
    if ('drop' in back) throw new Error(back.drop);
    const finished = a.handshakes.consumeResponse(back.slot, back.identity, response.message, 1001);
    if (typeof finished === 'string') throw new Error(finished);
    expect(finished.keypair.sendKey).toEqual(response.keypair.receiveKey);
    expect(finished.keypair.receiveKey).toEqual(response.keypair.sendKey);
    expect(finished.keypair.remoteIndex).toBe(response.keypair.localIndex);
    expect(response.keypair.remoteIndex).toBe(finished.keypair.localIndex);
    expect(bAtA.handshake.kind).toBe('none');
    expect(a.indices.get(finished.keypair.localIndex)?.keypair).toBe(finished.keypair);
  });

  it('rejects a replayed initiation by its timestamp, and a response nobody asked for', () => {
    const { a, b, bAtA } = pair();
    const initiation = a.handshakes.createInitiation(bAtA, 1000, Date.now())!;
    const admitted = b.handshakes.admit(initiation, a.endpoint, 1000);
    if ('drop' in admitted) throw new Error(admitted.drop);
    const first = b.handshakes.consumeInitiation(admitted.slot, admitted.identity, initiation, 1000);
    expect(typeof first).toBe('object');
    expect(b.handshakes.consumeInitiation(admitted.slot, admitted.identity, initiation, 5000)).toBe(
      'replayed-timestamp',
    );

    a.handshakes.release(bAtA);
    expect(a.indices.size).toBe(0);
    const stray = Buffer.alloc(92);
    stray.writeUInt32LE(2, 0);
    expect(a.handshakes.consumeResponse('current', a.handshakes.identities.current!, stray, 1000)).toBe(
      'unexpected-response',
    );
  });

  it('drops a message whose mac1 was made for another key', () => {
    const { a, bAtA } = pair();
    const initiation = a.handshakes.createInitiation(bAtA, 1000, Date.now())!;
    // Sent to b's key, presented to a itself.
    expect(a.handshakes.admit(initiation, a.endpoint, 1000)).toEqual({ drop: 'invalid-mac1' });
  });

  it('under load answers a message without mac2 with a cookie reply, then admits it with the cookie', () => {
    const { a, b, bAtA } = pair(0);
    const first = a.handshakes.createInitiation(bAtA, 1000, Date.now())!;
    const refused = b.handshakes.admit(first, a.endpoint, 1000);
    expect(refused).toMatchObject({ drop: 'cookie-required' });
    if (!('drop' in refused) || !refused.cookieReply) throw new Error('expected a cookie reply');
    expect(refused.cookieReply).toHaveLength(64);
    expect(a.handshakes.consumeCookieReply(refused.cookieReply, 1001)).toBe(true);

    bAtA.lastSentHandshakeAt = -Infinity;
    const second = a.handshakes.createInitiation(bAtA, 1002, Date.now())!;
    const admitted = b.handshakes.admit(second, a.endpoint, 1002);
    expect('slot' in admitted && admitted.slot).toBe('current');
  });

  it('initiates with the next key during a rotation until the peer ignored it twice', () => {
    const { a, bAtA } = pair();
    const nextPrivate = generatePrivateKey();
    const nextPublic = publicKeyOf(nextPrivate);
    a.handshakes.identities.next = {
      privateKey: nextPrivate,
      publicKey: nextPublic,
      cookies: new CookieChecker(nextPublic),
    };
    expect(a.handshakes.initiationSlot(bAtA)).toBe('next');
    expect(a.handshakes.isOwnKey(nextPublic)).toBe(true);
    bAtA.unansweredNextKeyInitiations = 2;
    expect(a.handshakes.initiationSlot(bAtA)).toBe('current');
  });
});
