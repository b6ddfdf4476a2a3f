/**
 * What the sealed gateways would fetch from the internet, served at the network edge under the
 * real host names: registry.npmjs.org (npm-registry.ts content) and the Debian mirrors
 * (apt-mirror.ts; deb.debian.org and security.debian.org, any suite).
 */
import { createReadStream, existsSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { basename, join } from 'node:path';
import type { AptMirror } from '../apt-mirror';
import { packument, tarballFor, type NpmRegistryContent } from '../npm-registry';
import { sendJson, sendText, type Handler, type LabRequest } from './http';

function sendFile(response: ServerResponse, path: string, type: string): void {
  response.writeHead(200, { 'content-type': type });
  createReadStream(path).pipe(response);
}

export function npmRegistryHandler(content: NpmRegistryContent, baseUrl: string): Handler {
  return (request: LabRequest, response: ServerResponse) => {
    if (request.method !== 'GET' && request.method !== 'HEAD')
      return sendJson(response, 405, { error: 'method not allowed' });
    const path = request.path.split('?')[0]!;
    const tarball = tarballFor(content, path);
    if (tarball !== undefined) return sendFile(response, tarball, 'application/octet-stream');
    const document = packument(content, decodeURIComponent(path.slice(1)), baseUrl);
    if (document === undefined) return sendJson(response, 404, { error: 'Not found' });
    sendJson(response, 200, document);
  };
}

export function aptMirrorHandler(mirror: AptMirror): Handler {
  const release = /^\/(debian|debian-security)\/dists\/([^/]+)\/InRelease$/;
  const packages = /^\/(debian|debian-security)\/dists\/[^/]+\/main\/binary-amd64\/Packages$/;
  const pool = /^\/debian\/pool\/main\/([^/]+\.deb)$/;
  return (request: LabRequest, response: ServerResponse) => {
    const path = decodeURIComponent(request.path.split('?')[0]!);
    const suite = release.exec(path)?.[2];
    if (suite !== undefined) return sendText(response, 200, mirror.inRelease(suite));
    if (packages.test(path)) return sendText(response, 200, mirror.packages);
    const file = pool.exec(path)?.[1];
    if (file !== undefined && basename(file) === file && existsSync(join(mirror.poolDirectory, file))) {
      return sendFile(response, join(mirror.poolDirectory, file), 'application/vnd.debian.binary-package');
    }
    sendText(response, 404, 'Not Found');
  };
}
