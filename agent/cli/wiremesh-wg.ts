/**
 * `wiremesh-wg [-f|--foreground] INTERFACE`: a userspace WireGuard interface with the contract of
 * `wireguard-go INTERFACE` (docs/protocol.md 2.1): it creates the TUN, binds the UAPI socket at
 * /var/run/wireguard/INTERFACE.sock, and unless -f is given re-executes itself in the background with
 * both descriptors (WG_TUN_FD=3, WG_UAPI_FD=4) so the socket already answers when the parent exits.
 * It exits cleanly on SIGINT/SIGTERM, when the interface is deleted, or when the socket is removed.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, unlinkSync, watch, type FSWatcher } from 'node:fs';
import { createServer } from 'node:net';
import { parseArgs } from 'node:util';
import { DEFAULT_MTU } from '../../common/defaults';
import { lineLogger, parseLogLevel } from '../wg/log';
import { nativeIo, offloadsWanted } from '../wg/native';
import { SOCKET_DIRECTORY, serveUapi } from '../wg/uapi-server';
import { UserspaceDevice } from '../wg/userspace-device';

const LINK_CHECK_INTERVAL_MS = 500;
const USAGE = 'Usage: wiremesh-wg [-f/--foreground] INTERFACE-NAME\n';

interface Arguments {
  foreground: boolean;
  interfaceName: string;
}

/** Strict: an unknown flag is an error, as in wireguard-go. Returns the error text on failure. */
export function parseArguments(argv: string[]): Arguments | string {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: { foreground: { type: 'boolean', short: 'f' } },
      strict: true,
      allowPositionals: true,
    });
  } catch (error) {
    return (error as Error).message;
  }
  const names = parsed.positionals;
  if (names.length !== 1) return names.length === 0 ? 'missing INTERFACE-NAME' : `unexpected argument '${names[1]}'`;
  if (!/^[A-Za-z0-9_=+.-]{1,15}$/.test(names[0]!)) return `invalid interface name '${names[0]}'`;
  return { foreground: parsed.values.foreground === true, interfaceName: names[0]! };
}

export function main(argv: string[]): void {
  const args = parseArguments(argv);
  if (typeof args === 'string') {
    process.stderr.write(`wiremesh-wg: ${args}\n${USAGE}`);
    process.exit(1);
  }
  const io = nativeIo();
  const foreground = args.foreground || process.env.WG_PROCESS_FOREGROUND === '1';
  const inheritedTun = process.env.WG_TUN_FD;
  const inheritedUapi = process.env.WG_UAPI_FD;

  let tunFd: number;
  let interfaceName: string;
  let uapiFd: number;
  try {
    if (inheritedTun) {
      tunFd = Number(inheritedTun);
      interfaceName = io.tunName(tunFd);
    } else {
      [tunFd, interfaceName] = io.tunOpen(args.interfaceName, offloadsWanted());
      io.setMtu(interfaceName, DEFAULT_MTU);
    }
    const socketPath = `${SOCKET_DIRECTORY}/${interfaceName}.sock`;
    if (inheritedUapi) {
      uapiFd = Number(inheritedUapi);
    } else {
      mkdirSync(SOCKET_DIRECTORY, { recursive: true, mode: 0o755 });
      uapiFd = io.unixListen(socketPath);
    }
  } catch (error) {
    process.stderr.write(
      `wiremesh-wg: failed to create interface ${args.interfaceName}: ${(error as Error).message}\n`,
    );
    process.exit(1);
  }

  if (!foreground) {
    // As wireguard-go: the daemon keeps the caller's stdout/stderr only when LOG_LEVEL asks for
    // logs, so a caller reading our output (a pipe) is not held open by the daemon.
    const logFile = process.env.WG_LOG_FILE;
    const keepsOutput = process.env.LOG_LEVEL !== undefined && process.env.LOG_LEVEL !== 'silent';
    const output = logFile ? openSync(logFile, 'a') : keepsOutput ? 'inherit' : 'ignore';
    const child = spawn(process.execPath, [process.argv[1]!, ...argv], {
      detached: true,
      env: { ...process.env, WG_TUN_FD: '3', WG_UAPI_FD: '4', WG_PROCESS_FOREGROUND: '1' },
      stdio: ['ignore', output, output, tunFd, uapiFd],
    });
    child.unref();
    process.exit(0);
  }
  runDevice(tunFd, interfaceName, uapiFd);
}

function runDevice(tunFd: number, interfaceName: string, uapiFd: number): void {
  const log = lineLogger(interfaceName, parseLogLevel(process.env.LOG_LEVEL), process.env.WG_LOG_FILE);
  const socketPath = `${SOCKET_DIRECTORY}/${interfaceName}.sock`;
  const bufferBytes = Number(process.env.WIREMESH_SOCKET_BUFFER_BYTES) || undefined;
  const device = new UserspaceDevice({ tunFd, interfaceName, log, socketBufferBytes: bufferBytes });
  device.start();
  const server = createServer();
  serveUapi(server, device, log);
  server.listen({ fd: uapiFd });
  log.info('device started');

  let watcher: FSWatcher | null = null;
  let linkCheck: NodeJS.Timeout | null = null;
  let stopping = false;
  const stop = (reason: string): void => {
    if (stopping) return;
    stopping = true;
    log.info(`shutting down: ${reason}`);
    if (linkCheck) clearInterval(linkCheck);
    watcher?.close();
    server.close();
    device.close();
    try {
      unlinkSync(socketPath);
    } catch {
      // already removed: that may be why we are stopping
    }
    process.exit(0);
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  watcher = watch(SOCKET_DIRECTORY, () => {
    if (!existsSync(socketPath)) stop('UAPI socket removed');
  });
  // The interface going away is how `wg-quick down` (ip link delete) stops us; MTU changes made
  // with `ip link set mtu` must reach the padding logic.
  linkCheck = setInterval(() => {
    let mtu: number;
    try {
      mtu = Number(readFileSync(`/sys/class/net/${interfaceName}/mtu`, 'utf8'));
    } catch {
      return stop('interface deleted');
    }
    if (mtu > 0 && mtu !== device.core.mtu) device.setMtu(mtu);
  }, LINK_CHECK_INTERVAL_MS);
}

if (require.main === module) main(process.argv.slice(2));
