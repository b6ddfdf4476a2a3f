/**
 * Per-operation costs of the protocol core: handshake messages, transport seal/open per 1420-byte
 * packet (the chosen libsodium AEAD beside node:crypto, measured in the same run), and the full
 * device send/receive paths.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { WIREGUARD_PORT } from '../common/defaults';
import { parsePrefix } from '../common/ip';
import { CookieChecker, CookieGenerator } from '../agent/core/cookie';
import { WireGuardDevice } from '../agent/core/device';
import { INITIATION_LENGTH, Initiation } from '../agent/core/messages';
import {
  WIREGUARD_PROLOGUE,
  consumeInitiation,
  createInitiation,
  createResponse,
  type StaticIdentity,
} from '../agent/core/noise';
import type { Endpoint } from '../agent/core/peer';
import { tai64nFromUnixMs } from '../agent/core/tai64n';
import { aeadOpen, aeadSeal, generatePrivateKey, publicKeyOf, randomBytes, x25519 } from '../agent/crypto/primitives';
import { measure, type BenchResult } from './harness';

const PACKET = 1420;

function identity(): StaticIdentity {
  const privateKey = generatePrivateKey();
  return { privateKey, publicKey: publicKeyOf(privateKey) };
}

function handshakeBench(): BenchResult[] {
  const initiator = identity();
  const responder = identity();
  const staticStatic = x25519(initiator.privateKey, responder.publicKey)!;
  const cookiesTowardResponder = new CookieGenerator(responder.publicKey);
  const responderCookies = new CookieChecker(responder.publicKey);
  const cookiesTowardInitiator = new CookieGenerator(initiator.publicKey);

  const buildInitiation = (): Buffer => {
    const noise = createInitiation({
      prologue: WIREGUARD_PROLOGUE,
      local: initiator,
      remoteStatic: responder.publicKey,
      staticStatic,
      payload: tai64nFromUnixMs(Date.now()),
    })!;
    const message = Buffer.alloc(INITIATION_LENGTH);
    message.writeUInt32LE(1, 0);
    noise.message.copy(message, Initiation.ephemeral);
    cookiesTowardResponder.addMacs(message, 0);
    return message;
  };
  const sample = buildInitiation();
  const respond = (message: Buffer): void => {
    if (!responderCookies.isMac1Valid(message)) throw new Error('mac1');
    const consumed = consumeInitiation({
      prologue: WIREGUARD_PROLOGUE,
      local: responder,
      message: message.subarray(Initiation.ephemeral, Initiation.mac1),
      staticStaticFor: () => staticStatic,
    });
    if (typeof consumed === 'string') throw new Error(consumed);
    const response = createResponse({ initiation: consumed, presharedKey: null, payload: Buffer.alloc(0) })!;
    const out = Buffer.alloc(92);
    response.message.copy(out, 12);
    cookiesTowardInitiator.addMacs(out, 0);
  };
  return [
    measure('handshake initiation (create + mac1)', buildInitiation, { rounds: 5 }),
    measure('handshake response (mac1 + consume + create)', () => respond(sample), { rounds: 5 }),
  ];
}

function aeadBench(): BenchResult[] {
  const key = randomBytes(32);
  const plaintext = randomBytes(PACKET);
  const sealed = Buffer.alloc(PACKET + 16);
  const opened = Buffer.alloc(PACKET);
  const scratch = Buffer.alloc(PACKET + 16);
  let counter = 0n;
  aeadSeal(key, 7n, plaintext, null, sealed);
  const nodeNonce = Buffer.alloc(12);
  nodeNonce.writeBigUInt64LE(7n, 4);
  const sodiumSeal = measure(
    `seal ${PACKET} B (libsodium, chosen)`,
    () => aeadSeal(key, counter++, plaintext, null, scratch),
    { batch: 16 },
  );
  const sodiumOpen = measure(
    `open ${PACKET} B (libsodium, chosen)`,
    () => {
      if (!aeadOpen(key, 7n, sealed, null, opened)) throw new Error('open');
    },
    { batch: 16 },
  );
  const nodeSeal = measure(
    `seal ${PACKET} B (node:crypto, reference)`,
    () => {
      const cipher = createCipheriv('chacha20-poly1305', key, nodeNonce, { authTagLength: 16 });
      cipher.update(plaintext);
      cipher.final();
      cipher.getAuthTag();
    },
    { batch: 16 },
  );
  const nodeOpen = measure(
    `open ${PACKET} B (node:crypto, reference)`,
    () => {
      const decipher = createDecipheriv('chacha20-poly1305', key, nodeNonce, { authTagLength: 16 });
      decipher.setAuthTag(sealed.subarray(PACKET));
      decipher.update(sealed.subarray(0, PACKET));
      decipher.final();
    },
    { batch: 16 },
  );
  sodiumSeal.note = `${(nodeSeal.microsPerOp / sodiumSeal.microsPerOp).toFixed(2)}x faster than node:crypto`;
  sodiumOpen.note = `${(nodeOpen.microsPerOp / sodiumOpen.microsPerOp).toFixed(2)}x faster than node:crypto`;
  return [sodiumSeal, sodiumOpen, nodeSeal, nodeOpen];
}

/** Two devices wired back to back: the whole send path, and the whole receive path. */
function deviceBench(): BenchResult[] {
  const endpointOf = (address: string): Endpoint => ({ address, port: WIREGUARD_PORT });
  let lastDatagram = Buffer.alloc(0);
  const captured: Buffer[] = [];
  let capture = false;
  let delivered = 0;
  const devices: WireGuardDevice[] = [];
  const makeDevice = (self: number): WireGuardDevice => {
    const device = new WireGuardDevice({
      outputs: {
        transmit: (datagram) => {
          if (capture) captured.push(Buffer.from(datagram));
          else if (datagram.length < 200)
            devices[1 - self]!.receiveDatagram(Buffer.from(datagram), endpointOf(`198.18.0.${self + 1}`), 0);
          lastDatagram = Buffer.from(datagram);
        },
        deliver: () => delivered++,
      },
    });
    device.setPrivateKey(generatePrivateKey());
    devices.push(device);
    return device;
  };
  const a = makeDevice(0);
  const b = makeDevice(1);
  const peerB = a.addPeer(b.publicKey!)!;
  peerB.endpoint = endpointOf('198.18.0.2');
  a.allowedIps.insert(parsePrefix('10.0.2.0/24'), peerB);
  const peerA = b.addPeer(a.publicKey!)!;
  peerA.endpoint = endpointOf('198.18.0.1');
  b.allowedIps.insert(parsePrefix('10.0.1.0/24'), peerA);

  const packet = Buffer.alloc(PACKET);
  packet[0] = 0x45;
  packet.writeUInt16BE(PACKET, 2);
  parsePrefix('10.0.1.1').address.forEach((byte, i) => (packet[12 + i] = byte));
  parsePrefix('10.0.2.1').address.forEach((byte, i) => (packet[16 + i] = byte));
  a.sendPacket(packet, 0); // handshake, then the packet
  if (!a.peer(b.publicKey!)!.current) throw new Error('bench handshake failed');
  b.receiveDatagram(lastDatagram, endpointOf('198.18.0.1'), 0);

  capture = false;
  const send = measure(`device send path, ${PACKET} B (route + seal)`, () => a.sendPacket(packet, 0), { batch: 16 });
  // Receive needs distinct counters (the replay window rejects repeats): time batches encrypted beforehand.
  const timings: number[] = [];
  for (let round = 0; round < 5; round++) {
    captured.length = 0;
    capture = true;
    for (let i = 0; i < 20_000; i++) a.sendPacket(packet, 0);
    capture = false;
    const started = performance.now();
    for (const datagram of captured) b.receiveDatagram(datagram, endpointOf('198.18.0.1'), 0);
    timings.push(((performance.now() - started) * 1000) / captured.length);
  }
  timings.sort((x, y) => x - y);
  const receiveMicros = timings[2]!;
  const receive: BenchResult = {
    name: `device receive path, ${PACKET} B (open + replay + source check)`,
    microsPerOp: receiveMicros,
    opsPerSecond: 1e6 / receiveMicros,
  };
  if (delivered === 0) throw new Error('nothing delivered');
  return [send, receive];
}

export function runProtocolBench(): BenchResult[] {
  return [...handshakeBench(), ...aeadBench(), ...deviceBench()];
}
