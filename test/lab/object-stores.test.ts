/**
 * The boot lab's emulated object stores (lab/boot/services/objects.ts) against real clients: the
 * AWS SDK's S3 client with credentials from the emulated IMDSv2 (virtual-hosted GetObject, SigV4
 * checked over x-amz-content-sha256), and curl as the user data runs it (`--aws-sigv4` with the
 * empty payload's hash; a bearer token for the Cloud Storage JSON API's `alt=media`). Grants come
 * from the world (in the lab: the mocks graph); anything else is refused as the services refuse it.
 * On loopback: every virtual host name resolves to 127.0.0.1 for the clients.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, createServer, type Server } from 'node:http';
import type { AddressInfo, LookupFunction } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { readRequest } from '../../lab/boot/services/http';
import { ec2MetadataHandler } from '../../lab/boot/services/metadata';
import { gcsResourceName, ObjectStores, objectStoreHandler } from '../../lab/boot/services/objects';
import type { World } from '../../lab/boot/services/world';

const execFileAsync = promisify(execFile);
const directory = mkdtempSync(join(tmpdir(), 'wiremesh-object-stores-'));
const artifact = join(directory, 'wiremesh-agent.tgz');
writeFileSync(artifact, Buffer.from('a packed agent, for the test'));
const sha256 = createHash('sha256').update(readFileSync(artifact)).digest('hex');
const KEY = `wiremesh-agent/${sha256}.tgz`;
const BUCKET = 'site-a-agent-0lab01';
const GCS_BUCKET = 'gw-agent-mock';
const EMPTY_PAYLOAD_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

const world: World = {
  awsInstances: [
    {
      name: 'aws-gw',
      instanceId: 'i-0lab000000000000',
      privateIp: '127.0.0.1',
      region: 'eu-west-1',
      availabilityZone: 'eu-west-1a',
      roleName: 'gw-role',
      accessKeyId: 'ASIALABTESTKEY000002',
      secretAccessKey: 'lab-secret-access-key/with+chars',
      sessionToken: 'lab-session-token',
      readableSecretArns: [],
      readableObjectArns: [`arn:aws:s3:::${BUCKET}/${KEY}`],
      replaceableRouteTableArns: [],
      describesRouteTables: false,
    },
  ],
  gcpInstances: [
    {
      name: 'gcp-gw',
      instanceId: '4000000000000000',
      privateIp: '127.0.0.1',
      project: 'lab-project',
      zone: 'europe-west1-b',
      email: 'gw@lab-project.iam.gserviceaccount.com',
      accessToken: 'ya29.lab-test-token',
      readableSecretIds: [],
      viewableSecretIds: [],
      readableObjects: [gcsResourceName(GCS_BUCKET, KEY)],
    },
  ],
  awsSecrets: [],
  gcpSecrets: [],
  artifacts: [
    { store: 's3', region: 'eu-west-1', bucket: BUCKET, key: KEY, path: artifact },
    { store: 's3', region: 'eu-west-1', bucket: BUCKET, key: 'wiremesh-agent/other.tgz', path: artifact },
    { store: 'gcs', bucket: GCS_BUCKET, object: KEY, path: artifact },
    { store: 'gcs', bucket: GCS_BUCKET, object: 'wiremesh-agent/other.tgz', path: artifact },
  ],
  routeTables: [],
  networkInterfaces: [],
};

const servers: Server[] = [];
let stores: ObjectStores;
let port = 0;
let imds = '';

/** Every name is this host: the clients reach the virtual hosts on loopback. */
const loopback: LookupFunction = (_host, options, callback) => {
  if (options.all) callback(null, [{ address: '127.0.0.1', family: 4 }]);
  else (callback as (e: null, a: string, f: number) => void)(null, '127.0.0.1', 4);
};

beforeAll(async () => {
  stores = new ObjectStores(world);
  const route = objectStoreHandler(stores);
  const metadata = ec2MetadataHandler(world.awsInstances);
  const listen = async (handler: Parameters<typeof createServer>[1]): Promise<number> => {
    const server = createServer(handler);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    servers.push(server);
    return (server.address() as AddressInfo).port;
  };
  port = await listen(
    (incoming, response) =>
      void readRequest(incoming).then((request) => {
        const handler = route(request.host);
        if (handler === undefined) return void response.writeHead(421).end();
        return handler(request, response);
      }),
  );
  imds = `http://127.0.0.1:${await listen((incoming, response) => void readRequest(incoming).then((r) => metadata(r, response)))}`;
});

afterAll(async () => {
  for (const server of servers) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
  rmSync(directory, { recursive: true, force: true });
});

function s3Client(credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken: string }): S3Client {
  return new S3Client({
    region: 'eu-west-1',
    endpoint: `http://s3.eu-west-1.amazonaws.com:${port}`,
    // No credentials: the SDK's default chain, which ends at the instance metadata service.
    ...(credentials !== undefined ? { credentials } : {}),
    requestHandler: { httpAgent: new Agent({ lookup: loopback }) },
    maxAttempts: 1,
  });
}

describe('S3 GetObject (AWS SDK, credentials from IMDSv2)', () => {
  const saved = { ...process.env };
  beforeAll(() => {
    for (const key of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE'])
      delete process.env[key];
    process.env.AWS_EC2_METADATA_SERVICE_ENDPOINT = imds;
    process.env.AWS_CONFIG_FILE = '/nonexistent';
    process.env.AWS_SHARED_CREDENTIALS_FILE = '/nonexistent';
  });
  afterAll(() => {
    process.env = saved;
  });

  test('the granted object, virtual-hosted, byte for byte', async () => {
    const answer = await s3Client().send(new GetObjectCommand({ Bucket: BUCKET, Key: KEY }));
    const bytes = Buffer.from(await answer.Body!.transformToByteArray());
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(sha256);
    expect(stores.accesses.at(-1)).toMatchObject({ store: 's3', instance: 'aws-gw', status: 200 });
  });

  test('another object of the same bucket is AccessDenied (403), and so is a missing one', async () => {
    for (const Key of ['wiremesh-agent/other.tgz', 'wiremesh-agent/absent.tgz']) {
      await expect(s3Client().send(new GetObjectCommand({ Bucket: BUCKET, Key }))).rejects.toMatchObject({
        name: 'AccessDenied',
        $metadata: { httpStatusCode: 403 },
      });
    }
  });

  test('a request signed with the wrong secret key is SignatureDoesNotMatch', async () => {
    const identity = world.awsInstances[0]!;
    const client = s3Client({
      accessKeyId: identity.accessKeyId,
      secretAccessKey: 'wrong',
      sessionToken: identity.sessionToken,
    });
    await expect(client.send(new GetObjectCommand({ Bucket: BUCKET, Key: KEY }))).rejects.toMatchObject({
      name: 'SignatureDoesNotMatch',
    });
  });
});

/** curl with its config (credentials, headers) on stdin, as the user data passes it. */
async function curl(config: string, args: string[]): Promise<{ status: number; body: Buffer }> {
  const out = join(directory, `curl-${Math.random().toString(36).slice(2)}`);
  const child = execFileAsync('curl', ['-sS', '-K', '-', '-o', out, '-w', '%{http_code}', ...args]);
  child.child.stdin!.end(config);
  const { stdout } = await child;
  const body = readFileSync(out);
  rmSync(out);
  return { status: Number(stdout), body };
}

describe("curl as the user data runs it (the VM's real client)", () => {
  const identity = world.awsInstances[0]!;
  const s3Config = `user = ${JSON.stringify(`${identity.accessKeyId}:${identity.secretAccessKey}`)}\nheader = ${JSON.stringify(`x-amz-security-token: ${identity.sessionToken}`)}\n`;
  const s3Host = `${BUCKET}.s3.eu-west-1.amazonaws.com`;
  const sigv4 = () => ['--aws-sigv4', 'aws:amz:eu-west-1:s3', '--connect-to', `${s3Host}:80:127.0.0.1:${port}`];

  test('S3: curl --aws-sigv4 with the empty payload hash gets the granted object', async () => {
    const answer = await curl(s3Config, [
      ...sigv4(),
      '-H',
      `x-amz-content-sha256: ${EMPTY_PAYLOAD_SHA256}`,
      `http://${s3Host}/${KEY}`,
    ]);
    expect(answer.status).toBe(200);
    expect(createHash('sha256').update(answer.body).digest('hex')).toBe(sha256);
  });

  test('S3: without x-amz-content-sha256 the request is refused (S3 requires it)', async () => {
    const answer = await curl(s3Config, [...sigv4(), `http://${s3Host}/${KEY}`]);
    expect(answer.status).toBe(400);
    expect(answer.body.toString()).toContain('<Code>InvalidRequest</Code>');
  });

  test('S3: without the session token the request is refused', async () => {
    const answer = await curl(`user = ${JSON.stringify(`${identity.accessKeyId}:${identity.secretAccessKey}`)}\n`, [
      ...sigv4(),
      '-H',
      `x-amz-content-sha256: ${EMPTY_PAYLOAD_SHA256}`,
      `http://${s3Host}/${KEY}`,
    ]);
    expect(answer.status).toBe(403);
    expect(answer.body.toString()).toContain('<Code>InvalidToken</Code>');
  });

  const gcs = (object: string) =>
    `http://storage.googleapis.com/storage/v1/b/${GCS_BUCKET}/o/${encodeURIComponent(object)}?alt=media`;
  const gcsConnect = () => ['--connect-to', `storage.googleapis.com:80:127.0.0.1:${port}`];
  const bearer = (token: string) => `header = ${JSON.stringify(`Authorization: Bearer ${token}`)}\n`;

  test('GCS: the JSON API media download with the service account token gets the granted object', async () => {
    const answer = await curl(bearer(world.gcpInstances[0]!.accessToken), [...gcsConnect(), gcs(KEY)]);
    expect(answer.status).toBe(200);
    expect(createHash('sha256').update(answer.body).digest('hex')).toBe(sha256);
    expect(stores.accesses.at(-1)).toMatchObject({ store: 'gcs', instance: 'gcp-gw', status: 200 });
  });

  test('GCS: another object is 403 (the grant names one object), a bad token 401', async () => {
    const other = await curl(bearer(world.gcpInstances[0]!.accessToken), [
      ...gcsConnect(),
      gcs('wiremesh-agent/other.tgz'),
    ]);
    expect(other.status).toBe(403);
    expect(JSON.parse(other.body.toString())).toMatchObject({
      error: { code: 403, errors: [{ reason: 'forbidden' }] },
    });
    expect((await curl(bearer('ya29.not-issued'), [...gcsConnect(), gcs(KEY)])).status).toBe(401);
  });
});
