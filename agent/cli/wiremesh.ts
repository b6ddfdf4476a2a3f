/**
 * The `wiremesh` command. Each subcommand is one entry in SUBCOMMANDS; the key tools print exactly what
 * `wg genkey`, `wg pubkey` and `wg genpsk` print, so either tool's output feeds the other.
 */
import { KeyFormatError, keyFromBase64, keyToBase64 } from '../crypto/keys';
import { KEY_LENGTH, generatePrivateKey, publicKeyOf, randomBytes, wipe } from '../crypto/primitives';
import {
  downCommand, execCommand, importCommand, planCommand, renderCommand, statusCommand, upCommand,
} from '../../mesh/cli';

export interface CliIo {
  stdin: AsyncIterable<Buffer | string>;
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
}

/** Returns the process exit code. */
type SubcommandHandler = (args: readonly string[], io: CliIo) => Promise<number>;

interface Subcommand {
  summary: string;
  run: SubcommandHandler;
}

const EXIT_OK = 0;
const EXIT_FAILURE = 1;

/** A base64 key is 44 characters; `wg pubkey` reads exactly that many, then allows only whitespace. */
const BASE64_KEY_LENGTH = 44;
/** Bytes `wg` skips after the key: NUL and C's isspace() set. */
const TRAILING_FILLER = new Set([0x00, 0x20, 0x09, 0x0a, 0x0b, 0x0c, 0x0d]);

function rejectArguments(name: string, args: readonly string[], io: CliIo): boolean {
  if (args.length === 0) return false;
  io.stderr.write(`Usage: wiremesh ${name}\n`);
  return true;
}

async function genkey(args: readonly string[], io: CliIo): Promise<number> {
  if (rejectArguments('genkey', args, io)) return EXIT_FAILURE;
  const privateKey = generatePrivateKey();
  io.stdout.write(`${keyToBase64(privateKey)}\n`);
  wipe(privateKey);
  return EXIT_OK;
}

async function genpsk(args: readonly string[], io: CliIo): Promise<number> {
  if (rejectArguments('genpsk', args, io)) return EXIT_FAILURE;
  const presharedKey = randomBytes(KEY_LENGTH);
  io.stdout.write(`${keyToBase64(presharedKey)}\n`);
  wipe(presharedKey);
  return EXIT_OK;
}

async function pubkey(args: readonly string[], io: CliIo): Promise<number> {
  if (rejectArguments('pubkey', args, io)) return EXIT_FAILURE;
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

async function help(_args: readonly string[], io: CliIo): Promise<number> {
  io.stdout.write(usage());
  return EXIT_OK;
}

const SUBCOMMANDS: ReadonlyMap<string, Subcommand> = new Map([
  ['genkey', { summary: 'Generates a new private key and writes it to stdout', run: genkey }],
  ['pubkey', { summary: 'Reads a private key from stdin and writes its public key to stdout', run: pubkey }],
  ['genpsk', { summary: 'Generates a new preshared key and writes it to stdout', run: genpsk }],
  ['plan', { summary: 'Plans a mesh spec: every gateway\'s peers and allowed IPs (--json for JSON)', run: planCommand }],
  ['render', { summary: 'Writes one wg-quick .conf per gateway of a mesh spec (--out DIR)', run: renderCommand }],
  ['import', { summary: 'Turns existing wg-quick configurations into a mesh spec (YAML; --json)', run: importCommand }],
  ['up', { summary: 'Brings up a mesh spec\'s local sites in network namespaces (root)', run: upCommand }],
  ['status', { summary: 'Shows the local mesh: sites, peers, endpoints, handshakes, traffic (--json)', run: statusCommand }],
  ['exec', { summary: 'Runs a command in a local site\'s LAN host: exec SITE -- COMMAND...', run: execCommand }],
  ['down', { summary: 'Removes every namespace, process and file of the local mesh', run: downCommand }],
  ['help', { summary: 'Shows this help', run: help }],
]);

function usage(): string {
  const width = Math.max(...[...SUBCOMMANDS.keys()].map((name) => name.length));
  const lines = [...SUBCOMMANDS].map(([name, { summary }]) => `  ${name.padEnd(width)}  ${summary}`);
  return `Usage: wiremesh <subcommand> [<args>]\n\nSubcommands:\n${lines.join('\n')}\n`;
}

export async function main(argv: readonly string[], io: CliIo): Promise<number> {
  const [name, ...args] = argv;
  if (name === '--help' || name === '-h') return help(args, io);
  const subcommand = name === undefined ? undefined : SUBCOMMANDS.get(name);
  if (!subcommand) {
    if (name !== undefined) io.stderr.write(`Invalid subcommand: \`${name}'\n`);
    io.stderr.write(usage());
    return EXIT_FAILURE;
  }
  return subcommand.run(args, io);
}

/** Runs `main` on this process's arguments and streams; bin/wiremesh.js calls this. */
export function runAsProcess(): void {
  const io: CliIo = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr };
  main(process.argv.slice(2), io).then(
    (code) => { process.exitCode = code; },
    (error: unknown) => {
      process.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = EXIT_FAILURE;
    },
  );
}

if (require.main === module) runAsProcess();
