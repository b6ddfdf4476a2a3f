/**
 * The userspace device's batch flood path (agent/wg/handshake-fast-path.ts over the addon's
 * handshakeTriage and cookieReplies): a batch laid out as recvBatch leaves it is classified as the
 * core would judge each datagram, and under load the native cookie replies are what the JS core's
 * CookieChecker would send: an initiator's CookieGenerator opens them (XChaCha20-Poly1305, mac1 as
 * associated data), and the mac2 it then makes passes the checker for that source.
 */
import { CookieChecker, CookieGenerator } from '../../agent/core/cookie';
import { WireGuardDevice } from '../../agent/core/device';
import {
  COOKIE_REPLY_LENGTH,
  INITIATION_LENGTH,
  MessageType,
  RESPONSE_LENGTH,
  writeUint32,
} from '../../agent/core/messages';
import { generatePrivateKey, publicKeyOf, randomBytes } from '../../agent/crypto/primitives';
import { HandshakeFastPath } from '../../agent/wg/handshake-fast-path';
import { DatagramClass, MAX_BATCH, RECV_META_SIZE, RECV_OFFSET_FIELD, nativeIo } from '../../agent/wg/native';
import { describeNative } from '../support/native-only';

const SLOT = 256;
const NOW = 5_000;

interface Datagram {
  bytes: Buffer;
  address: [number, number, number, number];
  port: number;
}

/** A batch laid out as recvBatch leaves it (IPv4 sources). */
function batch(datagrams: Datagram[]): { data: Buffer; meta: Buffer } {
  const data = Buffer.alloc(MAX_BATCH * SLOT);
  const meta = Buffer.alloc(MAX_BATCH * RECV_META_SIZE);
  datagrams.forEach(({ bytes, address, port }, i) => {
    bytes.copy(data, i * SLOT);
    const record = i * RECV_META_SIZE;
    meta.writeUInt32LE(bytes.length, record);
    meta[record + 4] = 4;
    meta.writeUInt16LE(port, record + 6);
    meta.set(address, record + 8);
    meta.writeUInt32LE(i * SLOT, record + RECV_OFFSET_FIELD);
  });
  return { data, meta };
}

function handshake(type: number, length: number, macs: CookieGenerator | null): Buffer {
  const message = randomBytes(length);
  writeUint32(message, 0, type);
  if (macs) macs.addMacs(message, NOW);
  return message;
}

describeNative('handshake fast path (native triage and cookie replies)', () => {
  const privateKey = generatePrivateKey();
  const publicKey = publicKeyOf(privateKey);
  const source = { address: [198, 18, 0, 7] as [number, number, number, number], port: 40007 };

  function responder(underLoad: boolean): { core: WireGuardDevice; fastPath: HandshakeFastPath } {
    const core = new WireGuardDevice({
      underLoadHandshakesPerSecond: underLoad ? 0 : 1_000_000,
      outputs: { transmit: () => undefined, deliver: () => undefined },
    });
    core.setPrivateKey(privateKey);
    return { core, fastPath: new HandshakeFastPath(nativeIo(), core) };
  }

  it('classifies transport, cookie replies, bad mac1, mac2 present and valid mac1 without mac2', () => {
    const { fastPath } = responder(true);
    const initiator = new CookieGenerator(publicKey);
    const withMac2 = handshake(MessageType.Initiation, INITIATION_LENGTH, initiator);
    withMac2[INITIATION_LENGTH - 1] = 1; // any non-zero mac2 (random mac2 bytes are overwritten with zeros by addMacs): the core judges it
    const datagrams = [
      { bytes: Buffer.alloc(48, 4).fill(0, 1, 4), ...source },
      { bytes: handshake(MessageType.CookieReply, COOKIE_REPLY_LENGTH, null), ...source },
      { bytes: handshake(MessageType.Initiation, INITIATION_LENGTH, new CookieGenerator(randomBytes(32))), ...source },
      { bytes: withMac2, ...source },
      { bytes: handshake(MessageType.Initiation, INITIATION_LENGTH, initiator), ...source },
      { bytes: handshake(MessageType.Response, RESPONSE_LENGTH, initiator), ...source },
      { bytes: handshake(MessageType.Initiation, INITIATION_LENGTH - 1, initiator), ...source },
    ];
    const { data, meta } = batch(datagrams);
    fastPath.triage(data, SLOT, meta, datagrams.length);
    expect([...fastPath.classes.subarray(0, datagrams.length)]).toEqual([
      DatagramClass.other,
      DatagramClass.cookieReply,
      DatagramClass.badMac1,
      DatagramClass.withMac2,
      DatagramClass.withoutMac2Current,
      DatagramClass.withoutMac2Current,
      DatagramClass.other,
    ]);
    expect(fastPath.noKey).toBe(false);
  });

  it('seals cookie replies an initiator opens, whose cookie makes a mac2 the checker accepts', () => {
    const { core } = responder(true);
    const io = nativeIo();
    const checker = new CookieChecker(publicKey);
    const mac1Keys = Buffer.alloc(64);
    const mask = core.mac1Keys(mac1Keys);
    const initiators = [0, 1, 2].map(() => new CookieGenerator(publicKey));
    const sources = [source, source, { address: [198, 18, 0, 9] as [number, number, number, number], port: 9 }];
    const messages = initiators.map((initiator) => handshake(MessageType.Initiation, INITIATION_LENGTH, initiator));
    const { data, meta } = batch(messages.map((bytes, i) => ({ bytes, ...sources[i]! })));
    const classes = Buffer.alloc(MAX_BATCH);
    expect(io.handshakeTriage(data, SLOT, meta, 3, mac1Keys, mask, classes)).toBe(3);
    const { cookieKey, secret } = checker.replyKeys(NOW);
    const out = Buffer.alloc(3 * COOKIE_REPLY_LENGTH);
    const outMeta = Buffer.alloc(3 * 48);
    const wanted = DatagramClass.withoutMac2Current;
    expect(io.cookieReplies(data, SLOT, meta, 3, classes, wanted, cookieKey, secret, out, outMeta)).toBe(3);
    initiators.forEach((initiator, i) => {
      const reply = out.subarray(i * COOKIE_REPLY_LENGTH, (i + 1) * COOKIE_REPLY_LENGTH);
      expect(reply.readUInt32LE(0)).toBe(MessageType.CookieReply);
      expect(reply.readUInt32LE(4)).toBe(messages[i]!.readUInt32LE(4));
      // Each reply goes back to its own source (sendBatch record: offset, length, family, port, address).
      expect(outMeta.readUInt32LE(i * 48 + 4)).toBe(COOKIE_REPLY_LENGTH);
      expect(outMeta.readUInt16LE(i * 48 + 10)).toBe(sources[i]!.port);
      expect([...outMeta.subarray(i * 48 + 12, i * 48 + 16)]).toEqual(sources[i]!.address);
      expect(initiator.consumeReply(reply, NOW)).toBe(true);
      const retry = handshake(MessageType.Initiation, INITIATION_LENGTH, initiator);
      const endpoint = { address: sources[i]!.address.join('.'), port: sources[i]!.port };
      expect(checker.hasValidMac2(retry, endpoint, NOW)).toBe(true);
    });
    // The nonces are fresh per reply.
    expect(out.subarray(8, 32).equals(out.subarray(72, 96))).toBe(false);
  });

  it('answers only under load, counting the replies as the core would, and sends them (loopback)', () => {
    const io = nativeIo();
    const [listener, port] = io.udpOpen(4, 0, 1 << 16, 1 << 16, 0);
    const [sender] = io.udpOpen(4, 0, 1 << 16, 1 << 16, 0);
    try {
      for (const underLoad of [false, true]) {
        const { core, fastPath } = responder(underLoad);
        const initiator = new CookieGenerator(publicKey);
        const from = { address: [127, 0, 0, 1] as [number, number, number, number], port };
        const { data, meta } = batch([
          { bytes: handshake(MessageType.Initiation, INITIATION_LENGTH, initiator), ...from },
        ]);
        // One handshake through the core's own path puts a core with threshold 0 under load.
        const other = { address: '127.0.0.2', port: 1 };
        core.receiveDatagram(handshake(MessageType.Initiation, INITIATION_LENGTH, initiator), other, NOW);
        fastPath.triage(data, SLOT, meta, 1);
        const answered = fastPath.answer(data, SLOT, meta, 1, { fd: sender, sendState: Buffer.alloc(12) }, NOW);
        expect(answered).toBe(underLoad ? 1 : null);
        expect(fastPath.refused).toBe(0);
        expect(core.drops.get('cookie-required') ?? 0).toBe(underLoad ? 2 : 0);
      }
      const received = Buffer.alloc(MAX_BATCH * SLOT);
      const receivedMeta = Buffer.alloc(MAX_BATCH * RECV_META_SIZE);
      expect(io.recvBatch(listener, received, SLOT, receivedMeta, MAX_BATCH)).toBe(1);
      expect(receivedMeta.readUInt32LE(0)).toBe(COOKIE_REPLY_LENGTH);
      expect(received[0]).toBe(MessageType.CookieReply);
    } finally {
      io.closeFd(listener);
      io.closeFd(sender);
    }
  });

  it('has nothing to check mac1 with before a private key is set', () => {
    const core = new WireGuardDevice({ outputs: { transmit: () => undefined, deliver: () => undefined } });
    const fastPath = new HandshakeFastPath(nativeIo(), core);
    const { data, meta } = batch([
      { bytes: handshake(MessageType.Initiation, INITIATION_LENGTH, new CookieGenerator(publicKey)), ...source },
    ]);
    fastPath.triage(data, SLOT, meta, 1);
    expect(fastPath.classes[0]).toBe(DatagramClass.badMac1);
    expect(fastPath.noKey).toBe(true);
  });
});
