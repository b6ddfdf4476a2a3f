/**
 * Serves the UAPI on a listening Unix socket: `get=1` and `set=1` requests, several per
 * connection, each answered with `errno=N` and a blank line (docs/protocol.md 2.2).
 */
import type { Server, Socket } from 'node:net';
import { LARGE_CHANGE_PEERS, releaseMemory } from './heap';
import { Errno, UapiError, formatGetResponse, parseSetRequest, type ConfigChange, type DeviceSnapshot } from './uapi';

export interface UapiTarget {
  snapshot(): DeviceSnapshot;
  /** Applies a validated change; throws UapiError (and changes nothing) when it cannot. */
  apply(change: ConfigChange): void;
}

export interface UapiLog {
  error(message: string): void;
}

/** Where `wg` looks for userspace interfaces (wireguard-tools RUNSTATEDIR/wireguard). */
export const SOCKET_DIRECTORY = '/var/run/wireguard';

/** Requests larger than this are refused: far above 65k allowed IPs, far below memory trouble. */
const MAX_REQUEST_BYTES = 64 * 1024 * 1024;

export function answerRequest(request: string, target: UapiTarget, log: UapiLog): string {
  const lines = request.split('\n');
  const operation = lines.shift();
  try {
    if (operation === 'get=1') {
      if (lines.length > 0) throw new UapiError(Errno.EINVAL, 'get=1 takes no arguments');
      return formatGetResponse(target.snapshot());
    }
    if (operation === 'set=1') {
      const change = parseSetRequest(lines);
      target.apply(change);
      if (change.peers.length >= LARGE_CHANGE_PEERS) releaseMemory();
      return 'errno=0\n\n';
    }
    throw new UapiError(Errno.EINVAL, `invalid UAPI operation "${(operation ?? '').slice(0, 20)}"`);
  } catch (error) {
    const errno = error instanceof UapiError ? error.errno : Errno.EIO;
    log.error(`UAPI ${operation ?? 'request'} failed: ${(error as Error).message}`);
    return `errno=${errno}\n\n`;
  }
}

export function serveUapi(server: Server, target: UapiTarget, log: UapiLog): void {
  server.on('connection', (socket: Socket) => {
    let pending = '';
    let searchFrom = 0;
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      pending += chunk;
      if (pending.length > MAX_REQUEST_BYTES) {
        socket.end(`errno=${Errno.EINVAL}\n\n`);
        return;
      }
      for (;;) {
        const end = pending.indexOf('\n\n', searchFrom);
        if (end === -1) {
          searchFrom = Math.max(0, pending.length - 1);
          return;
        }
        const request = pending.slice(0, end);
        pending = pending.slice(end + 2);
        searchFrom = 0;
        socket.write(answerRequest(request, target, log));
      }
    });
    socket.on('error', () => socket.destroy());
  });
}
