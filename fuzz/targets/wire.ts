/**
 * Wire messages into the core's receive path (WireGuardDevice.receiveDatagram) of a responder with
 * an established session. An input is a script of records `op (1 byte) | length (u16 LE) | body`:
 *   0 raw datagram from an unknown source
 *   1 a transport message from the peer, sealed under the live session, with `body` as plaintext
 *     (reaches the inner-packet checks that only authenticated packets get to)
 *   2 `body` as a handshake initiation (padded or cut to 148 bytes) with a valid mac1
 *   3 `body` as a handshake response (92 bytes) with a valid mac1
 *   4 time passes (u16 LE of body, in 10 ms) and the responder's timers run
 * Contract: receiveDatagram never throws, and every datagram is either accepted (something delivered
 * or sent, or the peer's received bytes grow) or counted in `drops`.
 */
import { createHash } from 'node:crypto';
import { parsePrefix } from '../../common/ip';
import { CookieGenerator } from '../../agent/core/cookie';
import { WireGuardDevice } from '../../agent/core/device';
import {
  COOKIE_REPLY_LENGTH,
  INITIATION_LENGTH,
  MessageType,
  RESPONSE_LENGTH,
  TRANSPORT_HEADER_LENGTH,
  Transport,
  writeUint32,
} from '../../agent/core/messages';
import type { Endpoint, Peer } from '../../agent/core/peer';
import { aeadSeal, clampPrivateKey } from '../../agent/crypto/primitives';
import { ipv4Packet, ipv6Packet } from '../../lab/packets';
import { ContractViolation, type FuzzTarget } from '../target';

const RESPONDER: Endpoint = { address: '198.18.0.2', port: 51820 };
const INITIATOR: Endpoint = { address: '198.18.0.1', port: 51820 };
const STRANGER: Endpoint = { address: '198.18.9.9', port: 4444 };
const START = 1_000_000;

function fixedKey(label: string): Buffer {
  return clampPrivateKey(createHash('sha256').update(`wiremesh fuzz ${label}`).digest());
}

const RESPONDER_KEY = fixedKey('responder');
const INITIATOR_KEY = fixedKey('initiator');

interface Side {
  device: WireGuardDevice;
  sent: Buffer[];
  delivered: number;
}

function side(privateKey: Buffer, underLoad: number): Side {
  const s: Side = { device: undefined as never, sent: [], delivered: 0 };
  s.device = new WireGuardDevice({
    underLoadHandshakesPerSecond: underLoad,
    outputs: { transmit: (datagram) => void s.sent.push(Buffer.from(datagram)), deliver: () => void s.delivered++ },
  });
  s.device.setPrivateKey(privateKey);
  return s;
}

function connect(from: Side, to: Side, endpoint: Endpoint, allowedIps: string[]): Peer {
  const peer = from.device.addPeer(to.device.publicKey!)!;
  peer.endpoint = endpoint;
  for (const prefix of allowedIps) from.device.allowedIps.insert(parsePrefix(prefix), peer);
  return peer;
}

const FIRST_PACKET = ipv4Packet('10.0.1.1', '10.0.2.1', Buffer.from('first'));

/** A responder (the device under test) and its peer, with a session confirmed both ways. */
function establish(): { responder: Side; initiator: Side; peerOfInitiator: Peer; peerOfResponder: Peer } {
  const responder = side(RESPONDER_KEY, 3);
  const initiator = side(INITIATOR_KEY, 1_000_000);
  const peerOfResponder = connect(responder, initiator, INITIATOR, ['10.0.1.0/24', 'fd00:1::/64']);
  const peerOfInitiator = connect(initiator, responder, RESPONDER, ['0.0.0.0/0', '::/0']);
  initiator.device.sendPacket(FIRST_PACKET, START);
  responder.device.receiveDatagram(initiator.sent.shift()!, INITIATOR, START);
  initiator.device.receiveDatagram(responder.sent.shift()!, RESPONDER, START);
  for (const datagram of initiator.sent.splice(0)) responder.device.receiveDatagram(datagram, INITIATOR, START);
  if (responder.delivered !== 1 || !peerOfInitiator.current)
    throw new Error('wire target: the session did not come up');
  return { responder, initiator, peerOfInitiator, peerOfResponder };
}

function sealed(peer: Peer, plaintext: Buffer): Buffer {
  const keypair = peer.current!;
  const counter = keypair.sendCounter++;
  const out = Buffer.alloc(TRANSPORT_HEADER_LENGTH + plaintext.length + 16);
  writeUint32(out, 0, MessageType.Transport);
  writeUint32(out, Transport.receiverIndex, keypair.remoteIndex);
  out.writeBigUInt64LE(counter, Transport.counter);
  plaintext.copy(out, Transport.payload);
  aeadSeal(
    keypair.sendKey,
    counter,
    out.subarray(Transport.payload, Transport.payload + plaintext.length),
    null,
    out.subarray(Transport.payload),
  );
  return out;
}

function withMac1(body: Buffer, type: number, length: number, responderKey: Buffer, now: number): Buffer {
  const message = Buffer.alloc(length);
  body.copy(message, 0, 0, Math.min(body.length, length));
  writeUint32(message, 0, type);
  new CookieGenerator(responderKey).addMacs(message, now);
  return message;
}

function* records(input: Buffer): Generator<{ op: number; body: Buffer }> {
  let at = 0;
  while (at < input.length) {
    const op = input[at]! % 5;
    const length = at + 3 <= input.length ? input.readUInt16LE(at + 1) : 0;
    const body = input.subarray(at + 3, at + 3 + length);
    at += 3 + body.length;
    yield { op, body };
  }
}

function record(op: number, body: Buffer): Buffer {
  const header = Buffer.alloc(3);
  header[0] = op;
  header.writeUInt16LE(body.length, 1);
  return Buffer.concat([header, body]);
}

function total(drops: Map<string, number>): number {
  let sum = 0;
  for (const n of drops.values()) sum += n;
  return sum;
}

export const wire: FuzzTarget = {
  name: 'wire',
  modules: [
    'agent/core/device.js',
    'agent/core/messages.js',
    'agent/core/cookie.js',
    'agent/core/noise.js',
    'agent/core/replay.js',
  ],
  dictionary: [],
  maxLength: 4096,
  run(input) {
    const { responder, initiator, peerOfInitiator, peerOfResponder } = establish();
    let now = START;
    for (const { op, body } of records(input)) {
      if (op === 4) {
        now += (body.length >= 2 ? body.readUInt16LE(0) : (body[0] ?? 0)) * 10;
        responder.device.tick(now);
        initiator.device.tick(now);
        responder.sent.length = 0;
        continue;
      }
      let datagram: Buffer;
      let source = INITIATOR;
      if (op === 0) {
        datagram = body;
        source = STRANGER;
      } else if (op === 1) {
        if (!peerOfInitiator.current?.canSend(now)) continue;
        datagram = sealed(peerOfInitiator, body);
      } else {
        datagram = withMac1(
          body,
          op === 2 ? MessageType.Initiation : MessageType.Response,
          op === 2 ? INITIATION_LENGTH : RESPONSE_LENGTH,
          responder.device.publicKey!,
          now,
        );
      }
      const before = {
        drops: total(responder.device.drops),
        sent: responder.sent.length,
        delivered: responder.delivered,
        rx: peerOfResponder.rxBytes,
      };
      responder.device.receiveDatagram(datagram, source, now);
      const accounted =
        total(responder.device.drops) > before.drops ||
        responder.sent.length > before.sent ||
        responder.delivered > before.delivered ||
        peerOfResponder.rxBytes > before.rx ||
        (datagram.length === COOKIE_REPLY_LENGTH && datagram[0] === MessageType.CookieReply);
      if (!accounted)
        throw new ContractViolation(`a ${datagram.length}-byte datagram was neither accepted nor counted as a drop`);
      responder.sent.length = 0;
    }
  },
  seeds() {
    // A transport message of another session: to this responder, an unknown index.
    const transport = sealed(
      establish().peerOfInitiator,
      ipv4Packet('10.0.1.1', '10.0.2.1', Buffer.from('old session')),
    );
    const initiation = (() => {
      // A fresh initiation from the peer: a new pair's first message.
      const pair = side(INITIATOR_KEY, 1_000_000);
      connect(pair, side(RESPONDER_KEY, 3), RESPONDER, ['0.0.0.0/0']);
      pair.device.sendPacket(FIRST_PACKET, START);
      return pair.sent[0]!;
    })();
    const v6 = ipv6Packet('fd00:1::1', 'fd00:2::1', Buffer.from('six'));
    return [
      record(2, initiation),
      Buffer.concat([
        record(1, ipv4Packet('10.0.1.1', '10.0.2.1', Buffer.from('data'))),
        record(1, v6),
        record(1, Buffer.alloc(0)),
      ]),
      record(1, ipv4Packet('10.0.9.1', '10.0.2.1', Buffer.from('spoofed source'))),
      record(0, transport),
      Buffer.concat([
        record(0, Buffer.from([MessageType.CookieReply, 0, 0, 0, ...Buffer.alloc(COOKIE_REPLY_LENGTH - 4)])),
        record(3, Buffer.alloc(RESPONSE_LENGTH)),
      ]),
      Buffer.concat([
        record(2, initiation),
        record(2, initiation),
        record(2, initiation),
        record(2, initiation),
        record(2, initiation),
      ]),
      Buffer.concat([
        record(4, Buffer.from([0xff, 0xff])),
        record(1, ipv4Packet('10.0.1.1', '10.0.2.1', Buffer.from('late'))),
      ]),
    ];
  },
};
