/**
 * What the suites of the lab's services share: a lab handler served on loopback (closed after the
 * suite), and the AWS SDK pointed at a lab IMDS for its credentials (the environment restored after).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readRequest, type Handler } from '../../lab/boot/services/http';

const servers: Server[] = [];
const saved = { ...process.env };
afterAll(async () => {
  process.env = saved;
  for (const server of servers) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

/** Serves `handler` on 127.0.0.1; its base URL. */
export async function serve(handler: Handler): Promise<string> {
  const server = createServer(
    (incoming, response) => void readRequest(incoming).then((request) => handler(request, response)),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Makes the AWS SDK take its credentials from the IMDS at `imds` only (no keys, profiles or files). */
export function useImdsCredentials(imds: string): void {
  for (const key of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE'])
    delete process.env[key];
  process.env.AWS_EC2_METADATA_SERVICE_ENDPOINT = imds;
  process.env.AWS_CONFIG_FILE = '/nonexistent';
  process.env.AWS_SHARED_CREDENTIALS_FILE = '/nonexistent';
}
