/**
 * A checksummed bulk TCP transfer for tunnel tests:
 *   node dist/lab/transfer.js serve PORT          -> prints "ready", then {"bytes":N,"sha256":"..."} per transfer
 *   node dist/lab/transfer.js send HOST PORT BYTES -> sends random bytes, prints {"bytes":N,"sha256":"..."}
 * The receiver exits after one transfer.
 */
import { createHash, randomFillSync } from 'node:crypto';
import { connect, createServer } from 'node:net';

const CHUNK = 256 * 1024;

function serve(port: number): void {
  const server = createServer((socket) => {
    const hash = createHash('sha256');
    let bytes = 0;
    socket.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      bytes += chunk.length;
    });
    socket.on('end', () => {
      process.stdout.write(`${JSON.stringify({ bytes, sha256: hash.digest('hex') })}\n`);
      socket.end();
      server.close();
    });
  });
  server.listen(port, '::', () => process.stdout.write('ready\n'));
}

function send(host: string, port: number, total: number): void {
  const hash = createHash('sha256');
  const socket = connect({ host, port });
  let sent = 0;
  const pump = (): void => {
    while (sent < total) {
      const chunk = randomFillSync(Buffer.allocUnsafe(Math.min(CHUNK, total - sent)));
      hash.update(chunk);
      sent += chunk.length;
      if (!socket.write(chunk)) return void socket.once('drain', pump);
    }
    socket.end();
  };
  socket.on('connect', pump);
  socket.on('close', (hadError) => {
    if (hadError) process.exit(1);
    process.stdout.write(`${JSON.stringify({ bytes: sent, sha256: hash.digest('hex') })}\n`);
  });
  socket.on('error', (error) => {
    process.stderr.write(`transfer failed: ${error.message}\n`);
    process.exit(1);
  });
}

const [mode, ...rest] = process.argv.slice(2);
if (mode === 'serve') serve(Number(rest[0]));
else if (mode === 'send') send(rest[0]!, Number(rest[1]), Number(rest[2]));
else {
  process.stderr.write('usage: transfer.js serve PORT | send HOST PORT BYTES\n');
  process.exit(2);
}
