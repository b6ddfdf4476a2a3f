/**
 * A handshake flood: WireGuard initiations carrying a valid mac1 for a responder's public key (so they
 * pass the first check and cost the responder a cookie reply), from random ephemerals and sender
 * indices, sent at a target rate for a bounded time from many source ports. The packets are made here
 * (the project's own mac1 code); the sending loop is lab/flood-generator.c, compiled on first use with
 * the system C compiler, so that 200,000/s cost the generator little more than the kernel's send path.
 *
 * Run inside a namespace a test or bench created (never toward a real host):
 *   node dist/lab/flood.js TARGET_IP:PORT RESPONDER_PUBLIC_KEY_BASE64 RATE_PER_SECOND SECONDS
 * It prints the generator's JSON line (FloodResult).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { CookieGenerator } from '../agent/core/cookie';
import { INITIATION_LENGTH, MessageType, writeUint32 } from '../agent/core/messages';
import { randomBytes } from '../agent/crypto/primitives';
import { packageRoot } from '../agent/package-root';
import { splitHostPort } from '../common/hostport';

/** Distinct packets cycled through, so no two consecutive initiations are identical. */
const DISTINCT_PACKETS = 1024;
/** Source ports the flood comes from: each is its own source to the responder's cookie. */
export const FLOOD_SOURCES = 64;
/** A flood never runs longer than this, whatever it is asked (the generator enforces it too). */
export const MAX_FLOOD_SECONDS = 60;

const GENERATOR_SOURCE = join(packageRoot(), 'lab', 'flood-generator.c');
const GENERATOR = join(packageRoot(), 'dist', 'lab', 'flood-generator');

/** `count` initiations toward `responderPublicKey`: random body, valid mac1, no mac2. */
export function floodInitiations(responderPublicKey: Uint8Array, count: number): Buffer[] {
  const macs = new CookieGenerator(responderPublicKey);
  const packets: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const packet = randomBytes(INITIATION_LENGTH);
    writeUint32(packet, 0, MessageType.Initiation);
    macs.addMacs(packet, 0);
    packets.push(packet);
  }
  return packets;
}

/** What lab/flood-generator.c prints. */
export interface FloodResult {
  /** Datagrams the pacing asked for. */
  attempted: number;
  /** Datagrams the kernel accepted. */
  sent: number;
  seconds: number;
  /** sent / seconds. */
  rate: number;
  /** The generator's own CPU time (user + system). */
  cpuSeconds: number;
}

/** The compiled generator, built (again) when it is missing or older than its source. */
export function floodGenerator(): string {
  if (!existsSync(GENERATOR) || statSync(GENERATOR).mtimeMs < statSync(GENERATOR_SOURCE).mtimeMs) {
    mkdirSync(dirname(GENERATOR), { recursive: true });
    execFileSync('cc', ['-O2', '-Wall', '-Wextra', '-pthread', '-o', GENERATOR, GENERATOR_SOURCE], { stdio: 'pipe' });
  }
  return GENERATOR;
}

/** A flood's packets in a fresh temporary file; `remove()` deletes it. */
export function floodPacketFile(responderPublicKey: Uint8Array): { path: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'wiremesh-flood-'));
  const path = join(dir, 'initiations');
  writeFileSync(path, Buffer.concat(floodInitiations(responderPublicKey, DISTINCT_PACKETS)));
  return { path, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The generator's arguments for a flood of `packetFile` toward `target` (IPv4 host:port). */
export function floodArguments(target: string, packetFile: string, rate: number, seconds: number): string[] {
  const { host, port } = splitHostPort(target);
  if (!/^\d+\.\d+\.\d+\.\d+$/.test(host)) throw new Error(`flood: IPv4 targets only: ${target}`);
  return [
    host,
    String(port),
    String(rate),
    String(Math.min(seconds, MAX_FLOOD_SECONDS)),
    String(FLOOD_SOURCES),
    String(INITIATION_LENGTH),
    packetFile,
  ];
}

function main(args: string[]): void {
  const [target, key, rate, seconds] = args;
  if (!target || !key || !rate || !seconds) {
    throw new Error('usage: flood TARGET_IP:PORT RESPONDER_PUBLIC_KEY_BASE64 RATE_PER_SECOND SECONDS');
  }
  const publicKey = Buffer.from(key, 'base64');
  if (publicKey.length !== 32) throw new Error('flood: the public key must be 32 bytes of base64');
  const packets = floodPacketFile(publicKey);
  try {
    const run = spawnSync(floodGenerator(), floodArguments(target, packets.path, Number(rate), Number(seconds)), {
      stdio: 'inherit',
    });
    if (run.status !== 0) process.exitCode = 1;
  } finally {
    packets.remove();
  }
}

if (require.main === module) {
  try {
    main(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    process.exit(1);
  }
}
