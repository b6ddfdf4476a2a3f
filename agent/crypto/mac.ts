/// <reference path="./sodium-native.d.ts" />
/**
 * Keyed BLAKE2s, WireGuard's MAC (mac1, mac2, cookies), from the native addon (agent/native/blake2s.c)
 * when it is built, else from @noble/hashes. The kernel plane runs without the addon, so the fallback
 * stays; the addon is about 20 times faster per MAC (bench/cookie.ts), which is what makes rejecting a
 * handshake flood cheap.
 */
import type * as NobleBlake2s from '@noble/hashes/blake2s';
import sodium from 'sodium-native';
import { loadNativeAddon, nativeAddonAvailable } from '../native-addon';

let nobleModule: typeof NobleBlake2s | undefined;
/** Loaded on first use: with the addon it never is, and its module loads node:crypto for webcrypto. */
const blake2s = (input: Uint8Array, options: Parameters<typeof NobleBlake2s.blake2s>[1]): Uint8Array =>
  (nobleModule ??= require('@noble/hashes/blake2s') as typeof NobleBlake2s).blake2s(input, options);

export const MAC_LENGTH = 16;

export interface MacBackend {
  readonly name: string;
  /** BLAKE2s(key, input[0:inputLength]) into out[outOffset : outOffset + outLength] (key <= 32, out <= 32 bytes). */
  macInto(
    key: Uint8Array,
    input: Uint8Array,
    inputLength: number,
    out: Uint8Array,
    outOffset: number,
    outLength: number,
  ): void;
  /** Whether the 16-byte MAC of message[0:length] equals message[length : length+16], in constant time. */
  macVerify(key: Uint8Array, message: Uint8Array, length: number): boolean;
}

export const javascriptMac: MacBackend = {
  name: '@noble/hashes',
  macInto(key, input, inputLength, out, outOffset, outLength) {
    // noble takes no key as "unkeyed" but refuses an empty one.
    const options = key.length > 0 ? { key, dkLen: outLength } : { dkLen: outLength };
    out.set(blake2s(input.subarray(0, inputLength), options), outOffset);
  },
  macVerify(key, message, length) {
    const computed = blake2s(message.subarray(0, length), { key, dkLen: MAC_LENGTH });
    return sodium.sodium_memcmp(computed, message.subarray(length, length + MAC_LENGTH));
  },
};

/** The addon's backend, or null when it is not built. */
export function nativeMac(): MacBackend | null {
  if (!nativeAddonAvailable()) return null;
  const addon = loadNativeAddon() as Pick<MacBackend, 'macInto' | 'macVerify'>;
  return { name: 'native', macInto: addon.macInto, macVerify: addon.macVerify };
}

export const macBackend: MacBackend = nativeMac() ?? javascriptMac;
