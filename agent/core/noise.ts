/**
 * Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s, exactly the handshake WireGuard runs (kernel src/noise.c;
 * docs/protocol.md 1.3), with the prologue and payloads as parameters so the generic Noise test
 * vectors run against the same code. WireGuard framing (indices, TAI64N, macs) lives in the device.
 *
 *   -> e, es, s, ss, {payload}        (initiation)
 *   <- e, ee, se, psk, {payload}      (response)
 */
import {
  AEAD_TAG_LENGTH,
  KEY_LENGTH,
  aeadOpen,
  aeadSeal,
  generatePrivateKey,
  hash,
  kdf,
  publicKeyOf,
  wipe,
  x25519,
} from '../crypto/primitives';

const CONSTRUCTION = Buffer.from('Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s');
const WIREGUARD_IDENTIFIER = Buffer.from('WireGuard v1 zx2c4 Jason@zx2c4.com');
const EMPTY = Buffer.alloc(0);
const NO_PRESHARED_KEY = Buffer.alloc(KEY_LENGTH);

export interface StaticIdentity {
  privateKey: Buffer;
  publicKey: Buffer;
}

/** The symmetric state shared by both handshake messages: chaining key C and hash H. */
interface SymmetricState {
  chainingKey: Buffer;
  hash: Buffer;
}

/** Ci0 and Hi0 for one prologue, computed once (WireGuard's are constants). */
export interface NoisePrologue {
  initialChainingKey: Buffer;
  initialHash: Buffer;
}

export function noisePrologue(prologue: Uint8Array): NoisePrologue {
  const initialChainingKey = hash(CONSTRUCTION);
  return { initialChainingKey, initialHash: hash(initialChainingKey, prologue) };
}

export const WIREGUARD_PROLOGUE = noisePrologue(WIREGUARD_IDENTIFIER);

/** What the initiator keeps between sending the initiation and consuming the response. */
export interface InitiatorHandshake extends SymmetricState {
  ephemeralPrivate: Buffer;
  remoteStatic: Buffer;
}

/** What the responder learns from an initiation. */
export interface ConsumedInitiation extends SymmetricState {
  remoteStatic: Buffer;
  remoteEphemeral: Buffer;
  payload: Buffer;
}

export interface TransportKeys {
  sendKey: Buffer;
  receiveKey: Buffer;
  handshakeHash: Buffer;
}

function mixHash(state: SymmetricState, data: Uint8Array): void {
  state.hash = hash(state.hash, data);
}

function mixKey(state: SymmetricState, input: Uint8Array): void {
  const [chainingKey] = kdf(1, state.chainingKey, input);
  wipe(state.chainingKey);
  state.chainingKey = chainingKey!;
}

/** MixKey of a DH result that also yields an encryption key. Returns null for an all-zero DH. */
function mixDh(state: SymmetricState, privateKey: Uint8Array, publicKey: Uint8Array): Buffer | null {
  const shared = x25519(privateKey, publicKey);
  if (!shared) return null;
  const key = mixPrecomputedDh(state, shared);
  wipe(shared);
  return key;
}

function mixPrecomputedDh(state: SymmetricState, shared: Uint8Array): Buffer {
  const [chainingKey, key] = kdf(2, state.chainingKey, shared);
  wipe(state.chainingKey);
  state.chainingKey = chainingKey!;
  return key!;
}

function encryptAndHash(state: SymmetricState, key: Buffer, plaintext: Uint8Array): Buffer {
  const out = Buffer.alloc(plaintext.length + AEAD_TAG_LENGTH);
  aeadSeal(key, 0n, plaintext, state.hash, out);
  mixHash(state, out);
  wipe(key);
  return out;
}

function decryptAndHash(state: SymmetricState, key: Buffer, ciphertext: Uint8Array): Buffer | null {
  const out = Buffer.alloc(ciphertext.length - AEAD_TAG_LENGTH);
  const ok = aeadOpen(key, 0n, ciphertext, state.hash, out);
  wipe(key);
  if (!ok) return null;
  mixHash(state, ciphertext);
  return out;
}

export interface CreateInitiationParams {
  prologue: NoisePrologue;
  local: StaticIdentity;
  remoteStatic: Buffer;
  /** DH(local static, remote static), precomputed per peer; computed here when absent. */
  staticStatic?: Buffer | null;
  payload: Uint8Array;
  /** Fixed ephemeral for test vectors; fresh when absent. */
  ephemeralPrivate?: Buffer;
}

/** Builds the Noise part of an initiation: e, encrypted s, encrypted payload. Null if a DH is zero. */
export function createInitiation(
  params: CreateInitiationParams,
): { message: Buffer; handshake: InitiatorHandshake } | null {
  const state: SymmetricState = {
    chainingKey: Buffer.from(params.prologue.initialChainingKey),
    hash: hash(params.prologue.initialHash, params.remoteStatic),
  };
  const ephemeralPrivate = params.ephemeralPrivate ? Buffer.from(params.ephemeralPrivate) : generatePrivateKey();
  const ephemeralPublic = publicKeyOf(ephemeralPrivate);
  mixHash(state, ephemeralPublic);
  mixKey(state, ephemeralPublic);
  const esKey = mixDh(state, ephemeralPrivate, params.remoteStatic);
  if (!esKey) return abandon(ephemeralPrivate, state);
  const encryptedStatic = encryptAndHash(state, esKey, params.local.publicKey);
  const staticStatic = params.staticStatic
    ? Buffer.from(params.staticStatic)
    : x25519(params.local.privateKey, params.remoteStatic);
  if (!staticStatic) return abandon(ephemeralPrivate, state);
  const ssKey = mixPrecomputedDh(state, staticStatic);
  wipe(staticStatic);
  const encryptedPayload = encryptAndHash(state, ssKey, params.payload);
  return {
    message: Buffer.concat([ephemeralPublic, encryptedStatic, encryptedPayload]),
    handshake: { ...state, ephemeralPrivate, remoteStatic: params.remoteStatic },
  };
}

function abandon(ephemeralPrivate: Buffer, state: SymmetricState): null {
  wipe(ephemeralPrivate);
  wipe(state.chainingKey);
  return null;
}

export interface ConsumeInitiationParams {
  prologue: NoisePrologue;
  local: StaticIdentity;
  message: Uint8Array;
  /**
   * Returns DH(local static, remote static) for a known peer, or undefined for an unknown one, so
   * the responder never finishes a handshake for a key it does not know.
   */
  staticStaticFor: (remoteStatic: Buffer) => Buffer | undefined;
}

export function consumeInitiation(
  params: ConsumeInitiationParams,
): ConsumedInitiation | 'decrypt-failed' | 'unknown-peer' {
  const { message } = params;
  const state: SymmetricState = {
    chainingKey: Buffer.from(params.prologue.initialChainingKey),
    hash: hash(params.prologue.initialHash, params.local.publicKey),
  };
  const remoteEphemeral = Buffer.from(message.subarray(0, KEY_LENGTH));
  mixHash(state, remoteEphemeral);
  mixKey(state, remoteEphemeral);
  const esKey = mixDh(state, params.local.privateKey, remoteEphemeral);
  if (!esKey) return fail(state);
  const staticEnd = KEY_LENGTH + KEY_LENGTH + AEAD_TAG_LENGTH;
  const remoteStatic = decryptAndHash(state, esKey, message.subarray(KEY_LENGTH, staticEnd));
  if (!remoteStatic) return fail(state);
  const staticStatic = params.staticStaticFor(remoteStatic);
  if (!staticStatic) {
    wipe(state.chainingKey);
    return 'unknown-peer';
  }
  const ssKey = mixPrecomputedDh(state, staticStatic);
  const payload = decryptAndHash(state, ssKey, message.subarray(staticEnd));
  if (!payload) return fail(state);
  return { ...state, remoteStatic, remoteEphemeral, payload };
}

function fail(state: SymmetricState): 'decrypt-failed' {
  wipe(state.chainingKey);
  return 'decrypt-failed';
}

export interface CreateResponseParams {
  initiation: ConsumedInitiation;
  presharedKey: Buffer | null;
  payload: Uint8Array;
  ephemeralPrivate?: Buffer;
}

/** Builds the Noise part of a response (e, encrypted payload) and derives the transport keys. */
export function createResponse(params: CreateResponseParams): { message: Buffer; keys: TransportKeys } | null {
  const { initiation } = params;
  const state: SymmetricState = { chainingKey: Buffer.from(initiation.chainingKey), hash: initiation.hash };
  const ephemeralPrivate = params.ephemeralPrivate ? Buffer.from(params.ephemeralPrivate) : generatePrivateKey();
  const ephemeralPublic = publicKeyOf(ephemeralPrivate);
  mixHash(state, ephemeralPublic);
  mixKey(state, ephemeralPublic);
  const ee = x25519(ephemeralPrivate, initiation.remoteEphemeral);
  const se = ee && x25519(ephemeralPrivate, initiation.remoteStatic);
  wipe(ephemeralPrivate);
  if (!ee || !se) {
    wipe(ee);
    return abandon(ephemeralPrivate, state);
  }
  mixKey(state, ee);
  mixKey(state, se);
  wipe(ee);
  wipe(se);
  const payloadKey = mixPresharedKey(state, params.presharedKey);
  const encryptedPayload = encryptAndHash(state, payloadKey, params.payload);
  const [initiatorToResponder, responderToInitiator] = kdf(2, state.chainingKey, EMPTY);
  wipe(state.chainingKey);
  return {
    message: Buffer.concat([ephemeralPublic, encryptedPayload]),
    keys: { sendKey: responderToInitiator!, receiveKey: initiatorToResponder!, handshakeHash: state.hash },
  };
}

/** psk token: (C, tau, k) = KDF3(C, Q); H = HASH(H || tau). Returns k. */
function mixPresharedKey(state: SymmetricState, presharedKey: Buffer | null): Buffer {
  const [chainingKey, tau, key] = kdf(3, state.chainingKey, presharedKey ?? NO_PRESHARED_KEY);
  wipe(state.chainingKey);
  state.chainingKey = chainingKey!;
  mixHash(state, tau!);
  wipe(tau);
  return key!;
}

export interface ConsumeResponseParams {
  handshake: InitiatorHandshake;
  local: StaticIdentity;
  presharedKey: Buffer | null;
  message: Uint8Array;
}

export function consumeResponse(params: ConsumeResponseParams): { payload: Buffer; keys: TransportKeys } | null {
  const { handshake, message } = params;
  const state: SymmetricState = { chainingKey: Buffer.from(handshake.chainingKey), hash: handshake.hash };
  const remoteEphemeral = message.subarray(0, KEY_LENGTH);
  mixHash(state, remoteEphemeral);
  mixKey(state, remoteEphemeral);
  const ee = x25519(handshake.ephemeralPrivate, remoteEphemeral);
  const se = ee && x25519(params.local.privateKey, remoteEphemeral);
  if (!ee || !se) {
    wipe(ee);
    wipe(state.chainingKey);
    return null;
  }
  mixKey(state, ee);
  mixKey(state, se);
  wipe(ee);
  wipe(se);
  const payloadKey = mixPresharedKey(state, params.presharedKey);
  const payload = decryptAndHash(state, payloadKey, message.subarray(KEY_LENGTH));
  if (!payload) {
    wipe(state.chainingKey);
    return null;
  }
  const [initiatorToResponder, responderToInitiator] = kdf(2, state.chainingKey, EMPTY);
  wipe(state.chainingKey);
  return {
    payload,
    keys: { sendKey: initiatorToResponder!, receiveKey: responderToInitiator!, handshakeHash: state.hash },
  };
}

export function wipeInitiatorHandshake(handshake: InitiatorHandshake): void {
  wipe(handshake.ephemeralPrivate);
  wipe(handshake.chainingKey);
}

export function wipeConsumedInitiation(initiation: ConsumedInitiation): void {
  wipe(initiation.chainingKey);
}
