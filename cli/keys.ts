/**
 * `wiremesh genkey | pubkey | genpsk`: they print exactly what `wg genkey`, `wg pubkey` and
 * `wg genpsk` print, so either tool's output feeds the other.
 */
import { KeyFormatError, keyFromBase64, keyToBase64 } from '../agent/crypto/keys';
import { KEY_LENGTH, generatePrivateKey, publicKeyOf, randomBytes, wipe } from '../agent/crypto/primitives';
import { EXIT_FAILURE, EXIT_OK, type CliIo } from './command';

/** A base64 key is 44 characters; `wg pubkey` reads exactly that many, then allows only whitespace. */
const BASE64_KEY_LENGTH = 44;
/** Bytes `wg` skips after the key: NUL and C's isspace() set. */
const TRAILING_FILLER = new Set([0x00, 0x20, 0x09, 0x0a, 0x0b, 0x0c, 0x0d]);

export async function genkeyCommand(_args: unknown, io: CliIo): Promise<number> {
  const privateKey = generatePrivateKey();
  io.stdout.write(`${keyToBase64(privateKey)}\n`);
  wipe(privateKey);
  return EXIT_OK;
}

export async function genpskCommand(_args: unknown, io: CliIo): Promise<number> {
  const presharedKey = randomBytes(KEY_LENGTH);
  io.stdout.write(`${keyToBase64(presharedKey)}\n`);
  wipe(presharedKey);
  return EXIT_OK;
}

export async function pubkeyCommand(_args: unknown, io: CliIo): Promise<number> {
  // Every buffer that holds key material is kept here and wiped on the way out.
  const received: Buffer[] = [];
  let privateKey: Buffer | null = null;
  try {
    for await (const chunk of io.stdin) received.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    const input = Buffer.concat(received);
    received.push(input);
    if (input.subarray(BASE64_KEY_LENGTH).some((byte) => !TRAILING_FILLER.has(byte))) {
      io.stderr.write('error: trailing characters found after the key\n');
      return EXIT_FAILURE;
    }
    // The key passes through one JS string here, which cannot be wiped; the buffers around it are.
    privateKey = keyFromBase64(input.subarray(0, BASE64_KEY_LENGTH).toString('latin1'));
    io.stdout.write(`${keyToBase64(publicKeyOf(privateKey))}\n`);
    return EXIT_OK;
  } catch (error) {
    if (!(error instanceof KeyFormatError)) throw error;
    // KeyFormatError messages never contain the input.
    io.stderr.write(`error: ${error.message}\n`);
    return EXIT_FAILURE;
  } finally {
    wipe(privateKey);
    for (const buffer of received) wipe(buffer);
  }
}
