/** The small HTTP surface the lab's services share: a buffered request and the answer helpers. */
import type { IncomingMessage, ServerResponse } from 'node:http';

export interface LabRequest {
  method: string;
  /** Path and query. */
  path: string;
  /** Host header without the port. */
  host: string;
  headers: IncomingMessage['headers'];
  body: string;
  /** The client's address (which instance is asking). */
  remoteAddress: string;
}

export type Handler = (request: LabRequest, response: ServerResponse) => void | Promise<void>;

export function readRequest(incoming: IncomingMessage): Promise<LabRequest> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
    incoming.on('error', reject);
    incoming.on('end', () =>
      resolve({
        method: incoming.method ?? '',
        path: incoming.url ?? '/',
        host: (incoming.headers.host ?? '').replace(/:\d+$/, ''),
        headers: incoming.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        remoteAddress: (incoming.socket.remoteAddress ?? '').replace(/^::ffff:/, ''),
      }),
    );
  });
}

export function sendText(
  response: ServerResponse,
  status: number,
  body: string,
  headers: Record<string, string> = {},
): void {
  response.writeHead(status, { 'content-type': 'text/plain', ...headers });
  response.end(body);
}

export function sendJson(
  response: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  response.writeHead(status, { 'content-type': 'application/json', ...headers });
  response.end(JSON.stringify(body));
}
