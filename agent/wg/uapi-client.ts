/**
 * A client for the cross-platform UAPI (docs/protocol.md 2): one request per connection, as `wg`
 * does, answered by `key=value` lines that end with `errno=N` and a blank line.
 */
import { connect } from 'node:net';
import { Errno, UapiError, formatSetRequest, parseGetResponse, type ConfigChange, type DeviceSnapshot } from './uapi';

export const UAPI_TIMEOUT_MS = 10_000;

/** The last line of every answer; nothing in an answer before it is an empty line. */
const ANSWER_END = /(?:^|\n)errno=(-?\d+)\n\n/;

/**
 * Sends `request` (which must end with a blank line) and resolves with the whole answer, up to and
 * including its `errno=N` line. Transport failures (no socket, refused, timeout) reject with a plain
 * Error; an answer cut short rejects with UapiError EPROTO, as `wg` reports it.
 */
export function uapiRequest(socketPath: string, request: string, timeoutMs = UAPI_TIMEOUT_MS): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath);
    let answer = '';
    let settled = false;
    const finish = (error: Error | null, result = ''): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(result);
    };
    const timer = setTimeout(
      () => finish(new Error(`UAPI ${socketPath}: no complete answer after ${timeoutMs} ms`)),
      timeoutMs,
    );
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(request));
    socket.on('data', (chunk: string) => {
      answer += chunk;
      const end = ANSWER_END.exec(answer);
      if (end) finish(null, answer.slice(0, end.index + end[0].length));
    });
    socket.on('end', () => finish(new UapiError(Errno.EPROTO, `UAPI ${socketPath}: connection closed before errno`)));
    socket.on('error', (error: NodeJS.ErrnoException) => finish(describeSocketError(socketPath, error)));
  });
}

function describeSocketError(socketPath: string, error: NodeJS.ErrnoException): Error {
  switch (error.code) {
    case 'ENOENT':
      return new Error(`UAPI socket ${socketPath} does not exist: is the interface running?`);
    case 'ECONNREFUSED':
      return new Error(`UAPI socket ${socketPath} refused the connection: the process that made it has exited`);
    default:
      return new Error(`UAPI socket ${socketPath}: ${error.message}`);
  }
}

export async function uapiGet(socketPath: string, timeoutMs = UAPI_TIMEOUT_MS): Promise<DeviceSnapshot> {
  return parseGetResponse(await uapiRequest(socketPath, 'get=1\n\n', timeoutMs));
}

/** Applies `change`; a non-zero errno rejects with UapiError carrying it (negative, like Errno). */
export async function uapiSet(socketPath: string, change: ConfigChange, timeoutMs = UAPI_TIMEOUT_MS): Promise<void> {
  const answer = await uapiRequest(socketPath, formatSetRequest(change), timeoutMs);
  const errno = Number(ANSWER_END.exec(answer)?.[1]);
  // wireguard-go answers a failed set with a negative errno; boringtun has sent positive ones
  if (errno !== 0) throw new UapiError(-Math.abs(errno), `UAPI set on ${socketPath} failed with errno ${errno}`);
}
