/**
 * Known-answer tests for every function in agent/crypto/primitives.ts. Each vector is copied from the
 * source named above it; the comment says what a pass proves and what it does not.
 */
import { createCipheriv, randomBytes as nodeRandomBytes } from 'node:crypto';
import { blake2s } from '@noble/hashes/blake2s';
import {
  AEAD_TAG_LENGTH,
  KEY_LENGTH,
  MAC_LENGTH,
  XAEAD_NONCE_LENGTH,
  aeadOpen,
  aeadSeal,
  clampPrivateKey,
  constantTimeEqual,
  generatePrivateKey,
  hash,
  hmac,
  isAllZero,
  kdf,
  mac,
  publicKeyOf,
  randomBytes,
  randomUint32,
  wipe,
  x25519,
  xaeadOpen,
  xaeadSealInto,
} from '../../agent/crypto/primitives';
import { javascriptMac, nativeMac, type MacBackend } from '../../agent/crypto/mac';

/** Hex as the sources print it: byte groups separated by spaces, colons or line breaks. */
function hex(text: string): Buffer {
  const digits = text.replace(/[\s:]/g, '');
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(digits)) throw new Error(`not hex: ${text}`);
  return Buffer.from(digits, 'hex');
}

function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

/** The 12-byte nonce aeadSeal builds: 4 zero bytes, then the counter as a little-endian u64. */
function wireguardNonce(counter: bigint): Buffer {
  const nonce = Buffer.alloc(12);
  nonce.writeBigUInt64LE(counter, 4);
  return nonce;
}

/** node:crypto (OpenSSL) ChaCha20-Poly1305, an implementation independent of libsodium. */
function opensslSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, ad: Uint8Array): Buffer {
  const cipher = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: AEAD_TAG_LENGTH });
  cipher.setAAD(ad, { plaintextLength: plaintext.length });
  return Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
}

describe('ChaCha20-Poly1305 (aeadSeal / aeadOpen)', () => {
  // RFC 8439 section 2.8.2, "Example and Test Vector for AEAD_CHACHA20_POLY1305".
  const rfc8439Section282 = {
    plaintext: Buffer.from(
      "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
      'ascii',
    ),
    aad: hex('50 51 52 53 c0 c1 c2 c3 c4 c5 c6 c7'),
    key: hex(`80 81 82 83 84 85 86 87 88 89 8a 8b 8c 8d 8e 8f
              90 91 92 93 94 95 96 97 98 99 9a 9b 9c 9d 9e 9f`),
    // "32-bit fixed-common part" 07 00 00 00, then the IV 40..47.
    nonce: hex('07 00 00 00 40 41 42 43 44 45 46 47'),
    ciphertext: hex(`d3 1a 8d 34 64 8e 60 db 7b 86 af bc 53 ef 7e c2
                     a4 ad ed 51 29 6e 08 fe a9 e2 b5 a7 36 ee 62 d6
                     3d be a4 5e 8c a9 67 12 82 fa fb 69 da 92 72 8b
                     1a 71 de 0a 9e 06 0b 29 05 d6 a5 b6 7e cd 3b 36
                     92 dd bd 7f 2d 77 8b 8c 98 03 ae e3 28 09 1b 58
                     fa b3 24 e4 fa d6 75 94 55 85 80 8b 48 31 d7 bc
                     3f f4 de f0 8e 4b 7a 9d e5 76 d2 65 86 ce c6 4b
                     61 16`),
    tag: hex('1a:e1:0b:59:4f:09:e2:6a:7e:90:2e:cb:d0:60:06:91'),
  };

  // RFC 8439 Appendix A.5, "ChaCha20-Poly1305 AEAD Decryption". Its nonce starts with 4 zero bytes, so
  // it is a WireGuard nonce with counter = little-endian u64 of 01 02 03 04 05 06 07 08.
  const rfc8439AppendixA5 = {
    key: hex(`1c 92 40 a5 eb 55 d3 8a f3 33 88 86 04 f6 b5 f0
              47 39 17 c1 40 2b 80 09 9d ca 5c bc 20 70 75 c0`),
    ciphertext: hex(`64 a0 86 15 75 86 1a f4 60 f0 62 c7 9b e6 43 bd
                     5e 80 5c fd 34 5c f3 89 f1 08 67 0a c7 6c 8c b2
                     4c 6c fc 18 75 5d 43 ee a0 9e e9 4e 38 2d 26 b0
                     bd b7 b7 3c 32 1b 01 00 d4 f0 3b 7f 35 58 94 cf
                     33 2f 83 0e 71 0b 97 ce 98 c8 a8 4a bd 0b 94 81
                     14 ad 17 6e 00 8d 33 bd 60 f9 82 b1 ff 37 c8 55
                     97 97 a0 6e f4 f0 ef 61 c1 86 32 4e 2b 35 06 38
                     36 06 90 7b 6a 7c 02 b0 f9 f6 15 7b 53 c8 67 e4
                     b9 16 6c 76 7b 80 4d 46 a5 9b 52 16 cd e7 a4 e9
                     90 40 c5 a4 04 33 22 5e e2 82 a1 b0 a0 6c 52 3e
                     af 45 34 d7 f8 3f a1 15 5b 00 47 71 8c bc 54 6a
                     0d 07 2b 04 b3 56 4e ea 1b 42 22 73 f5 48 27 1a
                     0b b2 31 60 53 fa 76 99 19 55 eb d6 31 59 43 4e
                     ce bb 4e 46 6d ae 5a 10 73 a6 72 76 27 09 7a 10
                     49 e6 17 d9 1d 36 10 94 fa 68 f0 ff 77 98 71 30
                     30 5b ea ba 2e da 04 df 99 7b 71 4d 6c 6f 2c 29
                     a6 ad 5c b4 02 2b 02 70 9b`),
    nonce: hex('00 00 00 00 01 02 03 04 05 06 07 08'),
    aad: hex('f3 33 88 86 00 00 00 00 00 00 4e 91'),
    tag: hex('ee ad 9d 67 89 0c bb 22 39 23 36 fe a1 85 1f 38'),
    plaintext: hex(`49 6e 74 65 72 6e 65 74 2d 44 72 61 66 74 73 20
                    61 72 65 20 64 72 61 66 74 20 64 6f 63 75 6d 65
                    6e 74 73 20 76 61 6c 69 64 20 66 6f 72 20 61 20
                    6d 61 78 69 6d 75 6d 20 6f 66 20 73 69 78 20 6d
                    6f 6e 74 68 73 20 61 6e 64 20 6d 61 79 20 62 65
                    20 75 70 64 61 74 65 64 2c 20 72 65 70 6c 61 63
                    65 64 2c 20 6f 72 20 6f 62 73 6f 6c 65 74 65 64
                    20 62 79 20 6f 74 68 65 72 20 64 6f 63 75 6d 65
                    6e 74 73 20 61 74 20 61 6e 79 20 74 69 6d 65 2e
                    20 49 74 20 69 73 20 69 6e 61 70 70 72 6f 70 72
                    69 61 74 65 20 74 6f 20 75 73 65 20 49 6e 74 65
                    72 6e 65 74 2d 44 72 61 66 74 73 20 61 73 20 72
                    65 66 65 72 65 6e 63 65 20 6d 61 74 65 72 69 61
                    6c 20 6f 72 20 74 6f 20 63 69 74 65 20 74 68 65
                    6d 20 6f 74 68 65 72 20 74 68 61 6e 20 61 73 20
                    2f e2 80 9c 77 6f 72 6b 20 69 6e 20 70 72 6f 67
                    72 65 73 73 2e 2f e2 80 9d`),
  };
  const a5Counter = rfc8439AppendixA5.nonce.readBigUInt64LE(4);

  it('RFC 8439 A.5: aeadOpen authenticates and decrypts the RFC ciphertext (WireGuard-form nonce)', () => {
    // Proves aeadOpen against the RFC directly, including the counter's little-endian placement at byte 4.
    expect(rfc8439AppendixA5.nonce.subarray(0, 4)).toEqual(Buffer.alloc(4));
    const sealed = Buffer.concat([rfc8439AppendixA5.ciphertext, rfc8439AppendixA5.tag]);
    const out = Buffer.alloc(rfc8439AppendixA5.ciphertext.length);
    expect(aeadOpen(rfc8439AppendixA5.key, a5Counter, sealed, rfc8439AppendixA5.aad, out)).toBe(true);
    expect(toHex(out)).toBe(toHex(rfc8439AppendixA5.plaintext));
  });

  it('RFC 8439 A.5: aeadSeal reproduces the RFC ciphertext and tag', () => {
    const out = Buffer.alloc(rfc8439AppendixA5.plaintext.length + AEAD_TAG_LENGTH);
    aeadSeal(rfc8439AppendixA5.key, a5Counter, rfc8439AppendixA5.plaintext, rfc8439AppendixA5.aad, out);
    expect(toHex(out)).toBe(toHex(Buffer.concat([rfc8439AppendixA5.ciphertext, rfc8439AppendixA5.tag])));
  });

  it('RFC 8439 2.8.2 through node:crypto, then aeadSeal agrees with node:crypto on WireGuard nonces', () => {
    // The 2.8.2 nonce starts 07 00 00 00, which no WireGuard counter can produce, so aeadSeal cannot take
    // it. This proves OpenSSL's ChaCha20-Poly1305 matches the RFC, then that aeadSeal (libsodium) matches
    // OpenSSL byte for byte on the same key, AAD and plaintext for several counters.
    const v = rfc8439Section282;
    expect(toHex(opensslSeal(v.key, v.nonce, v.plaintext, v.aad))).toBe(toHex(Buffer.concat([v.ciphertext, v.tag])));
    for (const counter of [0n, 1n, 0x0807060504030201n, (1n << 64n) - 1n]) {
      const out = Buffer.alloc(v.plaintext.length + AEAD_TAG_LENGTH);
      aeadSeal(v.key, counter, v.plaintext, v.aad, out);
      expect(toHex(out)).toBe(toHex(opensslSeal(v.key, wireguardNonce(counter), v.plaintext, v.aad)));
    }
  });

  it('aeadSeal agrees with node:crypto on random keys, counters, lengths (incl. empty) and no AAD', () => {
    for (const length of [0, 1, 15, 16, 17, 63, 64, 65, 1420]) {
      const key = nodeRandomBytes(KEY_LENGTH);
      const counter = nodeRandomBytes(8).readBigUInt64LE(0);
      const plaintext = nodeRandomBytes(length);
      const out = Buffer.alloc(length + AEAD_TAG_LENGTH);
      aeadSeal(key, counter, plaintext, null, out);
      expect(toHex(out)).toBe(toHex(opensslSeal(key, wireguardNonce(counter), plaintext, Buffer.alloc(0))));
      const opened = Buffer.alloc(length);
      expect(aeadOpen(key, counter, out, null, opened)).toBe(true);
      expect(opened).toEqual(plaintext);
    }
  });

  it('aeadSeal works in place (out starts at the plaintext)', () => {
    const { key, plaintext, aad } = rfc8439AppendixA5;
    const buffer = Buffer.alloc(plaintext.length + AEAD_TAG_LENGTH);
    plaintext.copy(buffer);
    aeadSeal(key, a5Counter, buffer.subarray(0, plaintext.length), aad, buffer);
    expect(toHex(buffer)).toBe(toHex(Buffer.concat([rfc8439AppendixA5.ciphertext, rfc8439AppendixA5.tag])));
  });

  it('aeadOpen rejects a flipped bit, a wrong counter, wrong AAD and input shorter than a tag', () => {
    const { key, aad } = rfc8439AppendixA5;
    const sealed = Buffer.concat([rfc8439AppendixA5.ciphertext, rfc8439AppendixA5.tag]);
    const out = Buffer.alloc(sealed.length - AEAD_TAG_LENGTH);
    for (const index of [0, sealed.length - 1]) {
      const tampered = Buffer.from(sealed);
      tampered[index] = tampered[index]! ^ 1;
      expect(aeadOpen(key, a5Counter, tampered, aad, out)).toBe(false);
    }
    expect(aeadOpen(key, a5Counter + 1n, sealed, aad, out)).toBe(false);
    expect(aeadOpen(key, a5Counter, sealed, Buffer.alloc(aad.length), out)).toBe(false);
    expect(aeadOpen(key, a5Counter, sealed.subarray(0, AEAD_TAG_LENGTH - 1), aad, Buffer.alloc(0))).toBe(false);
  });
});

describe('XChaCha20-Poly1305 (xaeadSeal / xaeadOpen)', () => {
  // draft-irtf-cfrg-xchacha-03 Appendix A.3.1, "AEAD_XCHACHA20_POLY1305" (developer-friendly hex).
  const draftXChaChaA31 = {
    plaintext: hex(`4c616469657320616e642047656e746c656d656e206f662074686520636c6173
                    73206f66202739393a204966204920636f756c64206f6666657220796f75206f
                    6e6c79206f6e652074697020666f7220746865206675747572652c2073756e73
                    637265656e20776f756c642062652069742e`),
    aad: hex('50515253c0c1c2c3c4c5c6c7'),
    key: hex('808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f'),
    nonce: hex('404142434445464748494a4b4c4d4e4f5051525354555657'),
    ciphertext: hex(`bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb
                     731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452
                     2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9
                     21f9664c97637da9768812f615c68b13b52e`),
    tag: hex('c0875924c1c7987947deafd8780acf49'),
  };

  it('draft-irtf-cfrg-xchacha-03 A.3.1: xaeadSealInto produces the ciphertext and tag', () => {
    const v = draftXChaChaA31;
    expect(v.nonce.length).toBe(XAEAD_NONCE_LENGTH);
    const sealed = Buffer.alloc(v.plaintext.length + AEAD_TAG_LENGTH);
    xaeadSealInto(sealed, v.key, v.nonce, v.plaintext, v.aad);
    expect(toHex(sealed)).toBe(toHex(Buffer.concat([v.ciphertext, v.tag])));
  });

  it('draft-irtf-cfrg-xchacha-03 A.3.1: xaeadOpen returns the plaintext', () => {
    const v = draftXChaChaA31;
    const opened = xaeadOpen(v.key, v.nonce, Buffer.concat([v.ciphertext, v.tag]), v.aad);
    expect(opened && toHex(opened)).toBe(toHex(v.plaintext));
  });

  it('xaeadOpen returns null for a flipped bit, a wrong nonce, wrong AAD and a short input', () => {
    const v = draftXChaChaA31;
    const sealed = Buffer.concat([v.ciphertext, v.tag]);
    const tampered = Buffer.from(sealed);
    tampered[5] = tampered[5]! ^ 0x80;
    expect(xaeadOpen(v.key, v.nonce, tampered, v.aad)).toBeNull();
    const otherNonce = Buffer.from(v.nonce);
    otherNonce[23] = otherNonce[23]! ^ 1;
    expect(xaeadOpen(v.key, otherNonce, sealed, v.aad)).toBeNull();
    expect(xaeadOpen(v.key, v.nonce, sealed, Buffer.alloc(0))).toBeNull();
    expect(xaeadOpen(v.key, v.nonce, sealed.subarray(0, AEAD_TAG_LENGTH - 1), v.aad)).toBeNull();
  });
});

describe('X25519 (x25519, publicKeyOf, clampPrivateKey)', () => {
  // RFC 7748 section 5.2, the two X25519 scalar / u-coordinate vectors. The second u-coordinate has its
  // top bit set, which section 5 says implementations must mask: a pass proves the masking too.
  const rfc7748Section52 = [
    {
      scalar: 'a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4',
      u: 'e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c',
      output: 'c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552',
    },
    {
      scalar: '4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d',
      u: 'e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493',
      output: '95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957',
    },
  ];

  // RFC 7748 section 6.1, the Diffie-Hellman example (private keys as printed, i.e. unclamped).
  const rfc7748Section61 = {
    alicePrivate: hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a'),
    alicePublic: '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a',
    bobPrivate: hex('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb'),
    bobPublic: 'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f',
    sharedSecret: '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742',
  };

  it.each(rfc7748Section52)('RFC 7748 5.2: X25519($scalar, $u)', ({ scalar, u, output }) => {
    const result = x25519(hex(scalar), hex(u));
    expect(result && toHex(result)).toBe(output);
  });

  it('RFC 7748 5.2 iterated: after 1 and 1,000 iterations (1,000,000 skipped: too slow)', () => {
    // k = u = 9; each round k <- X25519(k, u), u <- old k.
    let k: Buffer = hex('0900000000000000000000000000000000000000000000000000000000000000');
    let u: Buffer = Buffer.from(k);
    const expectedAfter = new Map([
      [1, '422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079'],
      [1000, '684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51'],
    ]);
    for (let iteration = 1; iteration <= 1000; iteration++) {
      const next = x25519(k, u);
      if (!next) throw new Error(`x25519 returned null at iteration ${iteration}`);
      u = k;
      k = next;
      const expected = expectedAfter.get(iteration);
      if (expected) expect(`${iteration}: ${toHex(k)}`).toBe(`${iteration}: ${expected}`);
    }
  });

  it("RFC 7748 6.1: publicKeyOf gives Alice's and Bob's public keys from their private keys", () => {
    expect(toHex(publicKeyOf(rfc7748Section61.alicePrivate))).toBe(rfc7748Section61.alicePublic);
    expect(toHex(publicKeyOf(rfc7748Section61.bobPrivate))).toBe(rfc7748Section61.bobPublic);
  });

  it('RFC 7748 6.1: both sides compute the shared secret K', () => {
    const v = rfc7748Section61;
    const aliceSide = x25519(v.alicePrivate, hex(v.bobPublic));
    const bobSide = x25519(v.bobPrivate, hex(v.alicePublic));
    expect(aliceSide && toHex(aliceSide)).toBe(v.sharedSecret);
    expect(bobSide && toHex(bobSide)).toBe(v.sharedSecret);
  });

  it('x25519 returns null for low-order public keys (all-zero shared secret)', () => {
    const privateKey = rfc7748Section61.alicePrivate;
    const zero = Buffer.alloc(KEY_LENGTH);
    const one = Buffer.alloc(KEY_LENGTH);
    one[0] = 1;
    expect(x25519(privateKey, zero)).toBeNull();
    expect(x25519(privateKey, one)).toBeNull();
  });

  it('clampPrivateKey clears bits 0-2 and 255, sets bit 254, and leaves its input alone', () => {
    const allOnes = Buffer.alloc(KEY_LENGTH, 0xff);
    const clamped = clampPrivateKey(allOnes);
    expect(clamped[0]).toBe(0xf8);
    expect(clamped[31]).toBe(0x7f);
    expect(clamped.subarray(1, 31)).toEqual(Buffer.alloc(30, 0xff));
    expect(allOnes).toEqual(Buffer.alloc(KEY_LENGTH, 0xff));
    expect(clampPrivateKey(Buffer.alloc(KEY_LENGTH))[31]).toBe(0x40);
    // Clamping the RFC 7748 6.1 key does not change its public key: X25519 clamps the scalar anyway.
    const alice = rfc7748Section61.alicePrivate;
    expect(toHex(clampPrivateKey(alice))).toBe('70076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c6a');
    expect(toHex(publicKeyOf(clampPrivateKey(alice)))).toBe(rfc7748Section61.alicePublic);
  });

  it('generatePrivateKey returns distinct clamped keys', () => {
    const first = generatePrivateKey();
    const second = generatePrivateKey();
    for (const key of [first, second]) {
      expect(key.length).toBe(KEY_LENGTH);
      expect(key).toEqual(clampPrivateKey(key));
    }
    expect(first).not.toEqual(second);
  });
});

describe('BLAKE2s (hash, mac)', () => {
  it('RFC 7693 Appendix B: BLAKE2s-256("abc"), whole and split across parts', () => {
    const expected = '508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982';
    expect(toHex(hash(Buffer.from('abc')))).toBe(expected);
    expect(toHex(hash(Buffer.from('a'), Buffer.alloc(0), Buffer.from('bc')))).toBe(expected);
  });

  // RFC 7693 Appendix E, blake2s_selftest(): selftest_seq() is its Fibonacci byte generator.
  const SELFTEST_GRAND_HASH = hex(`6A 41 1F 08 CE 25 AD CD FB 02 AB A6 41 45 1C EC
                                   53 C5 98 B2 4F 4F C7 87 FB DC 88 79 7F 4C 1D FE`);
  const SELFTEST_DIGEST_LENGTHS = [16, 20, 28, 32];
  const SELFTEST_INPUT_LENGTHS = [0, 3, 64, 65, 255, 1024];
  function selftestSequence(length: number, seed: number): Uint8Array {
    const out = new Uint8Array(length);
    let a = Math.imul(0xdead4bad, seed) >>> 0;
    let b = 1;
    for (let i = 0; i < length; i++) {
      const t = (a + b) >>> 0;
      a = b;
      b = t;
      out[i] = t >>> 24;
    }
    return out;
  }

  it('RFC 7693 Appendix E: blake2s_selftest grand hash, with mac() for every keyed 16-byte output', () => {
    // Proves mac() (keyed BLAKE2s-128 with a 16-byte key) on inputs of 0..1024 bytes, hash() for the
    // unkeyed 32-byte outputs and the grand hash, and @noble/hashes for the other lengths.
    const digests: Uint8Array[] = [];
    for (const outLength of SELFTEST_DIGEST_LENGTHS) {
      for (const inLength of SELFTEST_INPUT_LENGTHS) {
        const input = selftestSequence(inLength, inLength);
        digests.push(outLength === 32 ? hash(input) : blake2s(input, { dkLen: outLength }));
        const key = selftestSequence(outLength, outLength);
        digests.push(outLength === MAC_LENGTH ? mac(key, input) : blake2s(input, { key, dkLen: outLength }));
      }
    }
    expect(toHex(hash(...digests))).toBe(toHex(SELFTEST_GRAND_HASH));
  });

  // Both backends on their own: the native one (agent/native/blake2s.c) when the addon is built, and
  // the @noble/hashes fallback the kernel plane uses without it.
  const backends = [nativeMac(), javascriptMac].filter((backend): backend is MacBackend => backend !== null);
  if (process.env.CI === 'true' && backends.length < 2) throw new Error('the native addon must be built in CI');

  describe.each(backends.map((backend) => [backend.name, backend] as const))('MAC backend %s', (_name, backend) => {
    it('RFC 7693 Appendix E: the whole blake2s_selftest (every key and digest length) through macInto', () => {
      const digests: Uint8Array[] = [];
      const digest = (key: Uint8Array, input: Uint8Array, outLength: number): Uint8Array => {
        const out = new Uint8Array(outLength + 3);
        backend.macInto(key, input, input.length, out, 3, outLength);
        return out.subarray(3);
      };
      for (const outLength of SELFTEST_DIGEST_LENGTHS) {
        for (const inLength of SELFTEST_INPUT_LENGTHS) {
          const input = selftestSequence(inLength, inLength);
          digests.push(digest(new Uint8Array(0), input, outLength));
          digests.push(digest(selftestSequence(outLength, outLength), input, outLength));
        }
      }
      expect(toHex(hash(...digests))).toBe(toHex(SELFTEST_GRAND_HASH));
    });

    it('RFC 7693 Appendix B: BLAKE2s-256("abc") and inputLength limits the input', () => {
      const out = new Uint8Array(32);
      backend.macInto(new Uint8Array(0), Buffer.from('abcdef'), 3, out, 0, 32);
      expect(toHex(out)).toBe('508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982');
    });

    it('macVerify accepts the MAC that follows its input and rejects any flipped bit', () => {
      const key = Buffer.alloc(32, 7);
      const message = Buffer.alloc(148, 3);
      backend.macInto(key, message, 116, message, 116, MAC_LENGTH);
      expect(backend.macVerify(key, message, 116)).toBe(true);
      for (const index of [0, 115, 116, 131]) {
        const tampered = Buffer.from(message);
        tampered[index] = tampered[index]! ^ 1;
        expect(backend.macVerify(key, tampered, 116)).toBe(false);
      }
    });

    it('agrees with @noble/hashes for every key length and input lengths across block boundaries', () => {
      for (const keyLength of [0, 1, 16, 31, 32]) {
        const key = selftestSequence(keyLength, keyLength + 1);
        for (const inLength of [0, 1, 63, 64, 65, 116, 132, 128, 129, 300]) {
          const input = selftestSequence(inLength, inLength + 7);
          const options = keyLength > 0 ? { key, dkLen: MAC_LENGTH } : { dkLen: MAC_LENGTH };
          const out = new Uint8Array(MAC_LENGTH);
          backend.macInto(key, input, inLength, out, 0, MAC_LENGTH);
          expect(toHex(out)).toBe(toHex(blake2s(input, options)));
        }
      }
    });
  });

  if (backends[0]?.name === 'native') {
    it('native macInto and macVerify refuse out-of-range arguments instead of reading or writing past buffers', () => {
      const native = backends[0]!;
      const key = Buffer.alloc(32);
      expect(() => native.macInto(Buffer.alloc(33), Buffer.alloc(8), 8, Buffer.alloc(16), 0, 16)).toThrow(/macInto/);
      expect(() => native.macInto(key, Buffer.alloc(8), 9, Buffer.alloc(16), 0, 16)).toThrow(/macInto/);
      expect(() => native.macInto(key, Buffer.alloc(8), 8, Buffer.alloc(16), 1, 16)).toThrow(/macInto/);
      expect(() => native.macInto(key, Buffer.alloc(8), 8, Buffer.alloc(40), 0, 33)).toThrow(/macInto/);
      expect(() => native.macVerify(key, Buffer.alloc(20), 5)).toThrow(/macVerify/);
      expect(() => native.macVerify(key, 'not bytes' as unknown as Uint8Array, 0)).toThrow(/macVerify/);
    });
  }

  it('mac() returns 16 bytes and depends on the key', () => {
    const input = Buffer.from('mac1 input');
    const first = mac(Buffer.alloc(32, 1), input);
    expect(first.length).toBe(MAC_LENGTH);
    expect(first).not.toEqual(mac(Buffer.alloc(32, 2), input));
  });
});

describe('HMAC-BLAKE2s KDF (hmac, kdf)', () => {
  // wireguard-go device/kdf_test.go, TestKDF. Its t0, t1, t2 are WireGuard's tau1, tau2, tau3, which
  // kdf() returns in that order; KDF1 and KDF2 must return prefixes of KDF3, as the Go test checks.
  const wireguardGoKdfVectors = [
    {
      key: '746573742d6b6579', // "test-key"
      input: '746573742d696e707574', // "test-input"
      t0: '6f0e5ad38daba1bea8a0d213688736f19763239305e0f58aba697f9ffc41c633',
      t1: 'df1194df20802a4fe594cde27e92991c8cae66c366e8106aaa937a55fa371e8a',
      t2: 'fac6e2745a325f5dc5d11a5b165aad08b0ada28e7b4e666b7c077934a4d76c24',
    },
    {
      key: '776972656775617264', // "wireguard"
      input: '776972656775617264',
      t0: '491d43bbfdaa8750aaf535e334ecbfe5129967cd64635101c566d4caefda96e8',
      t1: '1e71a379baefd8a79aa4662212fcafe19a23e2b609a3db7d6bcba8f560e3d25f',
      t2: '31e1ae48bddfbe5de38f295e5452b1909a1b4e38e183926af3780b0c1e1f0160',
    },
    {
      key: '',
      input: '',
      t0: '8387b46bf43eccfcf349552a095d8315c4055beb90208fb1be23b894bc2ed5d0',
      t1: '58a0e5f6faefccf4807bff1f05fa8a9217945762040bcec2f4b4a62bdfe0e86e',
      t2: '0ce6ea98ec548f8e281e93e32db65621c45eb18dc6f0a7ad94178610a2f7338e',
    },
  ];

  it.each(wireguardGoKdfVectors)('wireguard-go TestKDF: key "$key", input "$input"', ({ key, input, t0, t1, t2 }) => {
    const k = hex(key);
    const x = hex(input);
    expect(kdf(3, k, x).map(toHex)).toEqual([t0, t1, t2]);
    expect(kdf(2, k, x).map(toHex)).toEqual([t0, t1]);
    expect(kdf(1, k, x).map(toHex)).toEqual([t0]);
  });

  it('hmac() over several parts equals hmac() over their concatenation (kdf relies on it)', () => {
    // The KDF vectors above prove hmac() itself; this proves the multi-part form that tau2 and tau3 use.
    const key = hex(wireguardGoKdfVectors[0]!.key);
    const whole = hmac(key, Buffer.from('chaining key'), Buffer.from([2]));
    expect(hmac(key, Buffer.from('chaining'), Buffer.from(' key'), Buffer.from([2]))).toEqual(whole);
    expect(whole.length).toBe(32);
  });
});

describe('helpers (constantTimeEqual, wipe, isAllZero, randomBytes, randomUint32)', () => {
  it('constantTimeEqual compares content and length', () => {
    const a = hex('00112233445566778899aabbccddeeff');
    expect(constantTimeEqual(a, Buffer.from(a))).toBe(true);
    const lastDiffers = Buffer.from(a);
    lastDiffers[15] = 0xfe;
    expect(constantTimeEqual(a, lastDiffers)).toBe(false);
    expect(constantTimeEqual(a, a.subarray(0, 15))).toBe(false);
    expect(constantTimeEqual(Buffer.alloc(0), Buffer.alloc(0))).toBe(true);
  });

  it('wipe zeroes exactly the given view and accepts null, undefined and empty input', () => {
    const backing = Buffer.alloc(8, 0xaa);
    wipe(backing.subarray(2, 6));
    expect(toHex(backing)).toBe('aaaa00000000aaaa');
    expect(() => {
      wipe(null);
      wipe(undefined);
      wipe(Buffer.alloc(0));
    }).not.toThrow();
  });

  it('isAllZero', () => {
    expect(isAllZero(Buffer.alloc(32))).toBe(true);
    expect(isAllZero(Buffer.alloc(0))).toBe(true);
    const lastSet = Buffer.alloc(32);
    lastSet[31] = 1;
    expect(isAllZero(lastSet)).toBe(false);
  });

  it('randomBytes and randomUint32 return fresh values of the right shape', () => {
    const first = randomBytes(32);
    expect(first.length).toBe(32);
    expect(first).not.toEqual(randomBytes(32));
    expect(randomBytes(0).length).toBe(0);
    const samples = Array.from({ length: 16 }, randomUint32);
    for (const sample of samples) {
      expect(Number.isInteger(sample) && sample >= 0 && sample <= 0xffffffff).toBe(true);
    }
    expect(new Set(samples).size).toBeGreaterThan(1);
  });
});
