/**
 * The emulated object stores holding the deployment's agent artifacts, enforcing the grants the
 * deployment made:
 * - S3 GetObject (and HEAD), virtual-hosted style (`https://BUCKET.s3.REGION.amazonaws.com/KEY`):
 *   SigV4 verified against the credentials the IMDS handed out, over the `x-amz-content-sha256`
 *   header's value as S3 does (the header is required), the session token checked, the scope's
 *   service `s3` and the bucket's region; then the caller's role must allow s3:GetObject on the
 *   object's ARN. Without ListBucket S3 answers 403 for a missing key too, and so does this. Errors
 *   are S3's XML (`<Error><Code>AccessDenied</Code>...`).
 * - Cloud Storage JSON API object download (`GET /storage/v1/b/B/o/O?alt=media`, O percent-encoded;
 *   without `alt=media` the object's metadata): the bearer token names the service account, which
 *   needs a grant on exactly `projects/_/buckets/B/objects/O` (the IAM condition the component
 *   writes), else 403 with the service's JSON error.
 * Every request is recorded (who, which object, the status).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import type { ArtifactObjectRecord } from '../deployment';
import { sendJson, type Handler, type LabRequest } from './http';
import { verifySigV4 } from './sigv4';
import type { World } from './world';

export interface ObjectAccess {
  store: 's3' | 'gcs';
  /** The instance the credentials belong to, when they were valid. */
  instance?: string;
  object: string;
  status: number;
  error?: string;
  at: string;
}

/** The host names the stores answer on (for the lab's certificate and the VMs' /etc/hosts). */
export function objectStoreHosts(artifacts: ArtifactObjectRecord[]): string[] {
  const hosts = artifacts.map((a) =>
    a.store === 's3' ? `${a.bucket}.s3.${a.region}.amazonaws.com` : 'storage.googleapis.com',
  );
  return [...new Set(hosts)];
}

/** The resource name GCS IAM conditions match. */
export function gcsResourceName(bucket: string, object: string): string {
  return `projects/_/buckets/${bucket}/objects/${object}`;
}

export class ObjectStores {
  readonly accesses: ObjectAccess[] = [];
  private readonly contents = new Map<string, Buffer>();

  constructor(private readonly world: World) {}

  private content(artifact: ArtifactObjectRecord): Buffer {
    let bytes = this.contents.get(artifact.path);
    if (bytes === undefined) {
      bytes = readFileSync(artifact.path);
      this.contents.set(artifact.path, bytes);
    }
    return bytes;
  }

  private record(access: Omit<ObjectAccess, 'at'>): void {
    this.accesses.push({ ...access, at: new Date().toISOString() });
  }

  /** S3 for the artifacts' buckets (route every `*.s3.REGION.amazonaws.com` host here). */
  s3(): Handler {
    return (request: LabRequest, response: ServerResponse) => {
      const bucket = /^([a-z0-9][a-z0-9.-]+)\.s3\.([a-z0-9-]+)\.amazonaws\.com$/.exec(request.host);
      const key = decodeURIComponent(request.path.split('?')[0]!.slice(1));
      const object = `s3://${bucket?.[1] ?? request.host}/${key}`;
      const fail = (status: number, code: string, message: string, instance?: string) => {
        this.record({ store: 's3', object, status, error: code, ...(instance ? { instance } : {}) });
        response.writeHead(status, { 'content-type': 'application/xml' });
        response.end(
          `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>`,
        );
      };
      if (bucket === null) return fail(400, 'InvalidBucketName', 'The lab serves virtual-hosted-style requests only');
      if (request.method !== 'GET' && request.method !== 'HEAD')
        return fail(405, 'MethodNotAllowed', 'The lab serves GetObject only');
      const payloadHash = request.headers['x-amz-content-sha256'];
      if (typeof payloadHash !== 'string')
        return fail(400, 'InvalidRequest', 'Missing required header for this request: x-amz-content-sha256');
      const signature = verifySigV4(
        request,
        (id) => this.world.awsInstances.find((i) => i.accessKeyId === id)?.secretAccessKey,
        Date.now(),
        payloadHash,
      );
      if (!signature.ok) {
        return signature.reason === 'unknown access key'
          ? fail(403, 'InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.')
          : fail(
              403,
              'SignatureDoesNotMatch',
              `The request signature we calculated does not match: ${signature.reason}`,
            );
      }
      const caller = this.world.awsInstances.find((i) => i.accessKeyId === signature.accessKeyId)!;
      if (request.headers['x-amz-security-token'] !== caller.sessionToken)
        return fail(403, 'InvalidToken', 'The provided token is malformed or otherwise invalid.', caller.name);
      const artifact = this.world.artifacts.find(
        (a) => a.store === 's3' && a.bucket === bucket[1] && a.key === key && a.region === bucket[2],
      );
      if (signature.service !== 's3' || signature.region !== bucket[2]) {
        return fail(
          400,
          'AuthorizationHeaderMalformed',
          `The authorization header is malformed; the region or service is wrong; expecting ${bucket[2]}/s3`,
          caller.name,
        );
      }
      // Missing or not granted: 403 alike (the role has no s3:ListBucket).
      if (artifact === undefined || !caller.readableObjectArns.includes(`arn:aws:s3:::${bucket[1]}/${key}`))
        return fail(403, 'AccessDenied', 'Access Denied', caller.name);
      const bytes = this.content(artifact);
      this.record({ store: 's3', object, status: 200, instance: caller.name });
      response.writeHead(200, {
        'content-type': 'application/gzip',
        'content-length': String(bytes.length),
        etag: `"${createHash('md5').update(bytes).digest('hex')}"`,
      });
      response.end(request.method === 'HEAD' ? undefined : bytes);
    };
  }

  /** Cloud Storage JSON API downloads (host storage.googleapis.com). */
  gcs(): Handler {
    const objectPath = /^\/(?:download\/)?storage\/v1\/b\/([^/]+)\/o\/([^/?]+)$/;
    return (request: LabRequest, response: ServerResponse) => {
      const [path = '', query = ''] = request.path.split('?', 2) as [string, string?];
      const match = request.method === 'GET' ? objectPath.exec(path) : null;
      const bucket = match ? decodeURIComponent(match[1]!) : '';
      const name = match ? decodeURIComponent(match[2]!) : '';
      const resource = gcsResourceName(bucket, name);
      const fail = (code: number, message: string, reason: string, instance?: string) => {
        this.record({ store: 'gcs', object: resource, status: code, error: reason, ...(instance ? { instance } : {}) });
        sendJson(response, code, { error: { code, message, errors: [{ message, domain: 'global', reason }] } });
      };
      if (match === null) return fail(404, 'The lab serves object downloads only', 'notFound');
      const bearer = /^Bearer (.+)$/.exec(String(request.headers.authorization ?? ''))?.[1];
      const caller = this.world.gcpInstances.find((i) => i.accessToken === bearer);
      if (caller === undefined) return fail(401, 'Invalid Credentials', 'authError');
      const artifact = this.world.artifacts.find((a) => a.store === 'gcs' && a.bucket === bucket && a.object === name);
      if (!caller.readableObjects.includes(resource)) {
        return fail(
          403,
          `${caller.email} does not have storage.objects.get access to the Google Cloud Storage object. Permission 'storage.objects.get' denied on resource (or it may not exist).`,
          'forbidden',
          caller.name,
        );
      }
      if (artifact === undefined) return fail(404, `No such object: ${bucket}/${name}`, 'notFound', caller.name);
      const bytes = this.content(artifact);
      this.record({ store: 'gcs', object: resource, status: 200, instance: caller.name });
      if (new URLSearchParams(query).get('alt') !== 'media') {
        return sendJson(response, 200, {
          kind: 'storage#object',
          bucket,
          name,
          size: String(bytes.length),
          md5Hash: createHash('md5').update(bytes).digest('base64'),
          contentType: 'application/gzip',
        });
      }
      response.writeHead(200, { 'content-type': 'application/gzip', 'content-length': String(bytes.length) });
      response.end(bytes);
    };
  }
}

/** Routes a request to the object stores by host: S3 virtual hosts, or Cloud Storage. */
export function objectStoreHandler(stores: ObjectStores): (host: string) => Handler | undefined {
  const s3 = stores.s3();
  const gcs = stores.gcs();
  return (host) =>
    host === 'storage.googleapis.com' ? gcs : /\.s3\.[a-z0-9-]+\.amazonaws\.com$/.test(host) ? s3 : undefined;
}
