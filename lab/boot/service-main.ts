/**
 * One of the lab's service hosts, run inside its network namespace:
 *   service-main.ts CONFIG_FILE
 * Roles: `ec2-metadata` / `gce-metadata` (169.254.169.254:80 in a cloud network), `edge` (the cloud
 * APIs, the object stores with the agent artifacts and the npm registry over HTTPS on 443, the
 * Debian mirror over HTTP on 80), `nlb` (a load balancer's health checks and routing, in its site's
 * router). A control API on a unix socket (reachable from the host, which is in another network
 * namespace) takes new secret versions and reports store accesses, EC2 calls and route changes,
 * and the load balancer's target health events. Prints "ready" once listening.
 */
import { execFile } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { aptMirror } from './apt-mirror';
import { npmRegistryContent } from './npm-registry';
import { aptMirrorHandler, npmRegistryHandler } from './services/edge';
import { readRequest, sendJson, sendText, type Handler } from './services/http';
import { Ec2Api } from './services/ec2';
import { ec2MetadataHandler, gceMetadataHandler } from './services/metadata';
import { NlbHealthChecker, type NlbSettings } from './services/nlb';
import { ObjectStores, objectStoreHandler } from './services/objects';
import { SecretStores } from './services/stores';
import type { World } from './services/world';
import type { LabDeployment } from './deployment';

export interface ServiceConfig {
  role: 'ec2-metadata' | 'gce-metadata' | 'edge' | 'nlb';
  world: World;
  controlSocket: string;
  listenAddress: string;
  edge?: {
    awsRegion: string;
    tls: { cert: string; key: string };
    registry: { tarball: string; manifest: Record<string, unknown>; projectRoot: string; cacheDirectory: string };
    apt: { poolDirectory: string; gnupgHome: string; identities: Record<string, string[]> };
    /** Per route table the lab realizes: the router namespace whose routing it is. */
    routeTableRouters: Record<string, string>;
  };
  nlb?: NlbSettings;
}

/** `ip route replace` in the router namespace of a realized route table (others live in the EC2 state only). */
function routeApplier(routers: Record<string, string>) {
  return (routeTableId: string, destination: string, via: string) =>
    new Promise<void>((resolve, reject) => {
      const router = routers[routeTableId];
      if (router === undefined) return resolve();
      const family = destination.includes(':') ? '-6' : '-4';
      execFile('ip', [family, '-n', router, 'route', 'replace', destination, 'via', via], (error) =>
        error ? reject(error) : resolve(),
      );
    });
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
  let ec2: Ec2Api | undefined;
  let nlb: NlbHealthChecker | undefined;
  if (config.role === 'nlb') {
    nlb = new NlbHealthChecker(config.nlb!);
    await nlb.start();
  } else if (config.role === 'ec2-metadata') {
    await listen(createHttpServer(serve(ec2MetadataHandler(config.world.awsInstances))), 80, config.listenAddress);
  } else if (config.role === 'gce-metadata') {
    await listen(createHttpServer(serve(gceMetadataHandler(config.world.gcpInstances))), 80, config.listenAddress);
  } else {
    const edge = config.edge!;
    stores = new SecretStores(config.world);
    objects = new ObjectStores(config.world);
    const objectStore = objectStoreHandler(objects);
    ec2 = new Ec2Api(config.world, edge.awsRegion, routeApplier(edge.routeTableRouters));
    const registry = npmRegistryContent(
      edge.registry.tarball,
      edge.registry.manifest as never,
      edge.registry.projectRoot,
      edge.registry.cacheDirectory,
    );
    const byHost: Record<string, Handler> = {
      [`secretsmanager.${edge.awsRegion}.amazonaws.com`]: stores.secretsManager(),
      [`ec2.${edge.awsRegion}.amazonaws.com`]: ec2.handler(),
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
      if (request.method === 'GET' && request.path === '/nlb' && nlb) return sendJson(response, 200, nlb.events);
      if (request.method === 'GET' && request.path === '/ec2' && ec2)
        return sendJson(response, 200, { calls: ec2.calls, changes: ec2.changes, routeTables: ec2.routeTables() });
      if (stores === undefined) return sendJson(response, 404, { error: 'no stores here' });
      if (request.method === 'GET' && request.path === '/accesses') return sendJson(response, 200, stores.accesses);
      if (request.method === 'GET' && request.path === '/object-accesses')
        return sendJson(response, 200, objects?.accesses ?? []);
      if (request.method === 'POST' && request.path === '/deploy') {
        const body = JSON.parse(request.body || '{}') as Pick<LabDeployment, 'awsSecrets' | 'gcpSecrets'>;
        return sendJson(response, 200, stores.deploy(body.awsSecrets ?? [], body.gcpSecrets ?? []));
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
