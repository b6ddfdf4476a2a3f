/**
 * One of the lab's service hosts, run inside its network namespace:
 *   service-main.ts CONFIG_FILE
 * Roles: `ec2-metadata` / `gce-metadata` (169.254.169.254:80 in a cloud network), `edge` (the cloud
 * APIs, the object stores with the agent artifacts and the npm registry over HTTPS on 443, the
 * Debian mirror over HTTP on 80). A control API on
 * a unix socket (reachable from the host, which is in another network namespace) takes new secret
 * versions and reports store accesses. Prints "ready" once listening.
 */
import { readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { aptMirror } from './apt-mirror';
import { npmRegistryContent } from './npm-registry';
import { aptMirrorHandler, npmRegistryHandler } from './services/edge';
import { readRequest, sendJson, sendText, type Handler } from './services/http';
import { ec2MetadataHandler, gceMetadataHandler } from './services/metadata';
import { ObjectStores, objectStoreHandler } from './services/objects';
import { SecretStores } from './services/stores';
import type { World } from './services/world';

export interface ServiceConfig {
  role: 'ec2-metadata' | 'gce-metadata' | 'edge';
  world: World;
  controlSocket: string;
  listenAddress: string;
  edge?: {
    awsRegion: string;
    tls: { cert: string; key: string };
    registry: { tarball: string; manifest: Record<string, unknown>; projectRoot: string; cacheDirectory: string };
    apt: { poolDirectory: string; gnupgHome: string; identities: Record<string, string[]> };
  };
}

function serve(handler: Handler) {
  return (incoming: IncomingMessage, response: ServerResponse) => {
    readRequest(incoming)
      .then((request) => handler(request, response))
      .catch(() => sendText(response, 500, 'lab service error'));
  };
}

function listen(server: ReturnType<typeof createHttpServer>, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
}

async function main(): Promise<void> {
  const config = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as ServiceConfig;
  let stores: SecretStores | undefined;
  let objects: ObjectStores | undefined;
  if (config.role === 'ec2-metadata') {
    await listen(createHttpServer(serve(ec2MetadataHandler(config.world.awsInstances))), 80, config.listenAddress);
  } else if (config.role === 'gce-metadata') {
    await listen(createHttpServer(serve(gceMetadataHandler(config.world.gcpInstances))), 80, config.listenAddress);
  } else {
    const edge = config.edge!;
    stores = new SecretStores(config.world);
    objects = new ObjectStores(config.world);
    const objectStore = objectStoreHandler(objects);
    const registry = npmRegistryContent(
      edge.registry.tarball,
      edge.registry.manifest as never,
      edge.registry.projectRoot,
      edge.registry.cacheDirectory,
    );
    const byHost: Record<string, Handler> = {
      [`secretsmanager.${edge.awsRegion}.amazonaws.com`]: stores.secretsManager(),
      'secretmanager.googleapis.com': stores.secretManager(),
      'registry.npmjs.org': npmRegistryHandler(registry, 'https://registry.npmjs.org'),
    };
    const https = createHttpsServer(
      { cert: edge.tls.cert, key: edge.tls.key },
      serve((request, response) => {
        const handler = byHost[request.host] ?? objectStore(request.host);
        if (handler === undefined) return sendText(response, 421, `the lab serves no ${request.host}`);
        return handler(request, response);
      }),
    );
    await listen(https as unknown as ReturnType<typeof createHttpServer>, 443, config.listenAddress);
    const apt = aptMirrorHandler(aptMirror(edge.apt.poolDirectory, edge.apt.gnupgHome, edge.apt.identities));
    await listen(createHttpServer(serve(apt)), 80, config.listenAddress);
  }
  rmSync(config.controlSocket, { force: true });
  const control = createHttpServer(
    serve((request, response) => {
      if (stores === undefined) return sendJson(response, 404, { error: 'no stores here' });
      if (request.method === 'GET' && request.path === '/accesses') return sendJson(response, 200, stores.accesses);
      if (request.method === 'GET' && request.path === '/object-accesses')
        return sendJson(response, 200, objects?.accesses ?? []);
      const body = JSON.parse(request.body || '{}') as { arn?: string; name?: string; value?: string };
      if (request.method === 'POST' && request.path === '/aws' && body.arn && body.value !== undefined) {
        return sendJson(response, 200, { added: stores.putAws(body.arn, body.value) });
      }
      if (request.method === 'POST' && request.path === '/gcp' && body.name && body.value !== undefined) {
        return sendJson(response, 200, { added: stores.putGcp(body.name, body.value) });
      }
      sendJson(response, 400, { error: 'unknown control request' });
    }),
  );
  await new Promise<void>((resolve) => control.listen(config.controlSocket, resolve));
  process.stdout.write('ready\n');
}

main().catch((error: unknown) => {
  console.error(`lab service: ${(error as Error).stack ?? String(error)}`);
  process.exit(1);
});
