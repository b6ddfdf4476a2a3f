import vectors from '../fixtures/noise-ikpsk2-vectors.json';
import { aeadSeal, publicKeyOf, x25519 } from '../../agent/crypto/primitives';
import {
  consumeInitiation,
  consumeResponse,
  createInitiation,
  createResponse,
  noisePrologue,
  type TransportKeys,
} from '../../agent/core/noise';

const hex = (text: string): Buffer => Buffer.from(text, 'hex');

function transport(keys: TransportKeys, counter: bigint, payload: Buffer): string {
  const out = Buffer.alloc(payload.length + 16);
  aeadSeal(keys.sendKey, counter, payload, null, out);
  return out.toString('hex');
}

describe('Noise_IKpsk2 against the cacophony vector (test/fixtures/noise-ikpsk2-vectors.json)', () => {
  const v = vectors.vectors[0]!;
  const prologue = noisePrologue(hex(v.init_prologue));
  const initiator = { privateKey: hex(v.init_static), publicKey: publicKeyOf(hex(v.init_static)) };
  const responder = { privateKey: hex(v.resp_static), publicKey: publicKeyOf(hex(v.resp_static)) };
  const psk = hex(v.init_psks[0]!);
  const messages = v.messages.map((m) => ({ payload: hex(m.payload), ciphertext: m.ciphertext }));

  it('reproduces both handshake messages, the handshake hash and all transport messages', () => {
    expect(responder.publicKey.toString('hex')).toBe(v.init_remote_static);
    const initiation = createInitiation({
      prologue,
      local: initiator,
      remoteStatic: responder.publicKey,
      payload: messages[0]!.payload,
      ephemeralPrivate: hex(v.init_ephemeral),
    });
    expect(initiation).not.toBeNull();
    expect(initiation!.message.toString('hex')).toBe(messages[0]!.ciphertext);

    const consumed = consumeInitiation({
      prologue,
      local: responder,
      message: initiation!.message,
      staticStaticFor: (remote) => x25519(responder.privateKey, remote) ?? undefined,
    });
    if (typeof consumed === 'string') throw new Error(consumed);
    expect(consumed.payload).toEqual(messages[0]!.payload);
    expect(consumed.remoteStatic).toEqual(initiator.publicKey);

    const response = createResponse({
      initiation: consumed,
      presharedKey: psk,
      payload: messages[1]!.payload,
      ephemeralPrivate: hex(v.resp_ephemeral),
    });
    expect(response!.message.toString('hex')).toBe(messages[1]!.ciphertext);
    expect(response!.keys.handshakeHash.toString('hex')).toBe(v.handshake_hash);

    const finished = consumeResponse({
      handshake: initiation!.handshake,
      local: initiator,
      presharedKey: psk,
      message: response!.message,
    });
    expect(finished!.payload).toEqual(messages[1]!.payload);
    expect(finished!.keys.handshakeHash.toString('hex')).toBe(v.handshake_hash);

    // Transport messages alternate initiator, responder, ...; each direction's nonce starts at 0.
    expect(transport(finished!.keys, 0n, messages[2]!.payload)).toBe(messages[2]!.ciphertext);
    expect(transport(response!.keys, 0n, messages[3]!.payload)).toBe(messages[3]!.ciphertext);
    expect(transport(finished!.keys, 1n, messages[4]!.payload)).toBe(messages[4]!.ciphertext);
    expect(transport(response!.keys, 1n, messages[5]!.payload)).toBe(messages[5]!.ciphertext);
  });

  it('refuses a response under the wrong preshared key and an initiation for an unknown peer', () => {
    const initiation = createInitiation({
      prologue,
      local: initiator,
      remoteStatic: responder.publicKey,
      payload: Buffer.alloc(12),
    });
    expect(
      consumeInitiation({ prologue, local: responder, message: initiation!.message, staticStaticFor: () => undefined }),
    ).toBe('unknown-peer');
    const consumed = consumeInitiation({
      prologue,
      local: responder,
      message: initiation!.message,
      staticStaticFor: (remote) => x25519(responder.privateKey, remote) ?? undefined,
    });
    if (typeof consumed === 'string') throw new Error(consumed);
    const response = createResponse({ initiation: consumed, presharedKey: psk, payload: Buffer.alloc(0) });
    expect(
      consumeResponse({
        handshake: initiation!.handshake,
        local: initiator,
        presharedKey: null,
        message: response!.message,
      }),
    ).toBeNull();
  });

  it('aborts when the peer sends a low-order ephemeral (all-zero DH)', () => {
    const message = Buffer.alloc(32 + 48 + 28); // ephemeral u = 0
    expect(consumeInitiation({ prologue, local: responder, message, staticStaticFor: () => undefined })).toBe(
      'decrypt-failed',
    );
  });
});
