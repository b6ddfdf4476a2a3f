/**
 * A paced TCP transfer between two LAN hosts, run inside their namespaces:
 *   transfer-main.ts receive ADDRESS PORT         prints "ready", then the received byte count and sha256
 *   transfer-main.ts send HOST PORT SECONDS RATE  sends RATE bytes/s of random data for SECONDS, then
 *                                                 prints the sent byte count and sha256
 * Each side prints one JSON line at the end; the digests tell whether every byte arrived in order.
 */
import { createHash, randomBytes } from 'node:crypto';
import { connect, createServer } from 'node:net';

export interface TransferSide {
  bytes: number;
  sha256: string;
  /** Seconds from the first byte to the end (the peer's FIN, or the last byte acknowledged). */
  seconds: number;
}

const TICK_MS = 100;

function receive(address: string, port: number): void {
  const server = createServer((socket) => {
    const hash = createHash('sha256');
    let bytes = 0;
    let first = 0;
    socket.on('data', (chunk: Buffer) => {
      if (bytes === 0) first = Date.now();
      bytes += chunk.length;
      hash.update(chunk);
    });
    socket.on('end', () => {
      const side: TransferSide = { bytes, sha256: hash.digest('hex'), seconds: (Date.now() - first) / 1000 };
      process.stdout.write(`${JSON.stringify(side)}\n`);
      socket.end();
      server.close();
    });
  });
  server.listen(port, address, () => process.stdout.write('ready\n'));
}

function send(host: string, port: number, seconds: number, rate: number): void {
  const hash = createHash('sha256');
  const socket = connect({ host, port });
  socket.once('connect', () => {
    const started = Date.now();
    let bytes = 0;
    // Paced by the clock: after a stall the backlog goes out as fast as TCP allows.
    const timer = setInterval(() => {
      const due = Math.min(seconds, (Date.now() - started) / 1000) * rate;
      if (due > bytes) {
        const chunk = randomBytes(Math.ceil(due - bytes));
        hash.update(chunk);
        bytes += chunk.length;
        socket.write(chunk);
      }
      if (Date.now() - started >= seconds * 1000) {
        clearInterval(timer);
        socket.end();
      }
    }, TICK_MS);
    socket.once('close', () => {
      const side: TransferSide = { bytes, sha256: hash.digest('hex'), seconds: (Date.now() - started) / 1000 };
      process.stdout.write(`${JSON.stringify(side)}\n`);
    });
  });
  socket.on('error', (error) => {
    process.stderr.write(`transfer: ${error.message}\n`);
    process.exit(1);
  });
}

const [mode, host, port, seconds, rate] = process.argv.slice(2);
if (mode === 'receive' && host && port) receive(host, Number(port));
else if (mode === 'send' && host && port && Number(seconds) > 0 && Number(rate) > 0)
  send(host, Number(port), Number(seconds), Number(rate));
else {
  process.stderr.write('usage: transfer-main.ts receive ADDRESS PORT | send HOST PORT SECONDS RATE\n');
  process.exit(2);
}
