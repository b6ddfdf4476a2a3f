/**
 * The boot lab's emulated cloud services, each against the real client the gateway uses: the AWS
 * SDK (IMDSv2 credentials, SigV4-signed GetSecretValue through the agent's AwsSecretSource), the GCP
 * client (metadata-server token, AccessSecretVersion through the agent's GcpSecretSource), npm
 * (installing from the lab registry) and gpgv (the mirror's signed InRelease). On loopback.
 */
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { AwsSecretSource } from '../../agent/secrets/aws';
import { GcpSecretSource } from '../../agent/secrets/gcp';
import { packageRoot } from '../../agent/package-root';
import { aptMirror, labAptKey } from '../../lab/boot/apt-mirror';
import { npmRegistryContent } from '../../lab/boot/npm-registry';
import { aptMirrorHandler, npmRegistryHandler } from '../../lab/boot/services/edge';
import { ec2MetadataHandler, gceMetadataHandler } from '../../lab/boot/services/metadata';
import { SecretStores } from '../../lab/boot/services/stores';
import type { World } from '../../lab/boot/services/world';
import { hasCommand } from '../../lab/netns';
import { serve, useImdsCredentials } from './loopback-services';

jest.mock('gaxios', () =>
  (require('../support/gaxios-fetch') as typeof import('../support/gaxios-fetch')).builtInFetchGaxios(),
);

const ARN = (name: string) => `arn:aws:secretsmanager:eu-west-1:123456789012:secret:${name}-AbCdEf`;
const world: World = {
  awsInstances: [
    {
      name: 'aws-gw',
      instanceId: 'i-0lab000000000000',
      privateIp: '127.0.0.1',
      region: 'eu-west-1',
      availabilityZone: 'eu-west-1a',
      roleName: 'gw-role',
      accessKeyId: 'ASIALABTESTKEY000001',
      secretAccessKey: 'lab-secret-access-key',
      sessionToken: 'lab-session-token',
      readableSecretArns: [ARN('gw-key')],
      readableObjectArns: [],
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
      readableSecretIds: ['gw-key', 'gw-config'],
      viewableSecretIds: ['gw-key'],
      readableObjects: [],
    },
  ],
  awsSecrets: [
    { arn: ARN('gw-key'), name: 'gw-key', value: 'first-value', versionId: 'v1', stages: ['AWSCURRENT'] },
    { arn: ARN('other-key'), name: 'other-key', value: 'not-yours', versionId: 'v1', stages: ['AWSCURRENT'] },
  ],
  gcpSecrets: [
    { name: 'projects/lab-project/secrets/gw-key', secretId: 'gw-key', value: 'gcp-first', version: 1 },
    { name: 'projects/lab-project/secrets/other-key', secretId: 'other-key', value: 'gcp-not-yours', version: 1 },
    { name: 'projects/lab-project/secrets/gw-config', secretId: 'gw-config', value: 'gcp-config', version: 1 },
  ],
  artifacts: [],
  routeTables: [],
  networkInterfaces: [],
};

describe('EC2 IMDSv2 and Secrets Manager (AWS SDK through AwsSecretSource)', () => {
  let stores: SecretStores;
  let endpoint: string;

  beforeAll(async () => {
    const imds = await serve(ec2MetadataHandler(world.awsInstances));
    stores = new SecretStores(world);
    endpoint = await serve(stores.secretsManager());
    useImdsCredentials(imds);
  });

  test('IMDSv2 refuses a GET without a session token', async () => {
    const imds = process.env.AWS_EC2_METADATA_SERVICE_ENDPOINT!;
    expect((await fetch(`${imds}/latest/meta-data/iam/security-credentials/`)).status).toBe(401);
    const token = await (
      await fetch(`${imds}/latest/api/token`, {
        method: 'PUT',
        headers: { 'x-aws-ec2-metadata-token-ttl-seconds': '60' },
      })
    ).text();
    const region = await fetch(`${imds}/latest/meta-data/placement/region`, {
      headers: { 'x-aws-ec2-metadata-token': token },
    });
    expect(await region.text()).toBe('eu-west-1');
    const identity = await fetch(`${imds}/latest/dynamic/instance-identity/document`, {
      headers: { 'x-aws-ec2-metadata-token': token },
    });
    expect(await identity.json()).toMatchObject({
      instanceId: 'i-0lab000000000000',
      region: 'eu-west-1',
      accountId: '123456789012',
    });
  });

  test('GetSecretValue by ARN, signed with the role credentials the IMDS handed out', async () => {
    const source = new AwsSecretSource({ secretId: ARN('gw-key'), region: 'eu-west-1', endpoint });
    expect(await source.fetch()).toEqual({
      value: Buffer.from('first-value'),
      version: 'v1',
      createdAtUnixMs: expect.any(Number),
    });
    expect(stores.accesses.at(-1)).toMatchObject({ instance: 'aws-gw', status: 200, secret: ARN('gw-key') });
  });

  test('a deploy: a next version AWSPENDING, then AWSCURRENT (the old one AWSPREVIOUS), then the old one destroyed', async () => {
    const gwKey = world.awsSecrets[0]!;
    const source = (version: { versionId?: string; versionStage?: string } = {}) =>
      new AwsSecretSource({ secretId: ARN('gw-key'), region: 'eu-west-1', endpoint, ...version });
    const next = { ...gwKey, value: 'second-value', versionId: 'v2', stages: ['AWSPENDING'] };
    expect(stores.deploy([gwKey, next], [])).toEqual({ created: [`${ARN('gw-key')}@v2`], restaged: [], destroyed: [] });
    expect(stores.deploy([gwKey, next], [])).toEqual({ created: [], restaged: [], destroyed: [] });
    expect((await source().fetch()).value.toString()).toBe('first-value');
    expect((await source({ versionId: 'v2' }).fetch()).value.toString()).toBe('second-value');
    expect(stores.deploy([gwKey, { ...next, stages: ['AWSCURRENT'] }], [])).toMatchObject({
      restaged: [`${ARN('gw-key')}@v2`],
    });
    expect(await source().fetch()).toEqual({
      value: Buffer.from('second-value'),
      version: 'v2',
      createdAtUnixMs: expect.any(Number),
    });
    expect((await source({ versionStage: 'AWSPREVIOUS' }).fetch()).value.toString()).toBe('first-value');
    expect(stores.deploy([{ ...next, stages: ['AWSCURRENT'] }], [])).toEqual({
      created: [],
      restaged: [],
      destroyed: [`${ARN('gw-key')}@v1`],
    });
    await expect(source({ versionId: 'v1' }).fetch()).rejects.toThrow(/ResourceNotFoundException/);
    expect((await source({ versionId: 'v2' }).fetch()).value.toString()).toBe('second-value');
  });

  test("a secret the role's policy does not grant is refused, without its value", async () => {
    const source = new AwsSecretSource({ secretId: ARN('other-key'), region: 'eu-west-1', endpoint });
    await expect(source.fetch()).rejects.toThrow(/AccessDeniedException \(HTTP 400\)/);
    expect(stores.accesses.at(-1)).toMatchObject({ instance: 'aws-gw', status: 400, error: 'AccessDeniedException' });
  });

  test('a request signed with the wrong secret key is refused', async () => {
    const client = new SecretsManagerClient({
      region: 'eu-west-1',
      endpoint,
      credentials: {
        accessKeyId: world.awsInstances[0]!.accessKeyId,
        secretAccessKey: 'wrong',
        sessionToken: world.awsInstances[0]!.sessionToken,
      },
    });
    await expect(client.send(new GetSecretValueCommand({ SecretId: ARN('gw-key') }))).rejects.toMatchObject({
      name: 'InvalidSignatureException',
    });
  });
});

describe('GCE metadata server and Secret Manager (GCP client through GcpSecretSource)', () => {
  let endpoint: string;
  let metadata: string;
  let stores: SecretStores;

  beforeAll(async () => {
    metadata = await serve(gceMetadataHandler(world.gcpInstances));
    stores = new SecretStores(world);
    endpoint = await serve(stores.secretManager());
    process.env.GCE_METADATA_HOST = metadata.replace('http://', '');
    delete process.env.GOOGLE_APPLICATION_CREDENTIALS;
  });

  test('the metadata server answers only Metadata-Flavor: Google, and says so', async () => {
    expect((await fetch(`${metadata}/computeMetadata/v1/instance/service-accounts/default/email`)).status).toBe(403);
    const answer = await fetch(`${metadata}/computeMetadata/v1/instance/service-accounts/default/email`, {
      headers: { 'metadata-flavor': 'Google' },
    });
    expect(answer.headers.get('metadata-flavor')).toBe('Google');
    expect(await answer.text()).toBe('gw@lab-project.iam.gserviceaccount.com');
  });

  test('AccessSecretVersion with the service account token, latest and by number', async () => {
    const latest = await new GcpSecretSource({ name: 'projects/lab-project/secrets/gw-key', endpoint }).fetch();
    expect(latest).toEqual({
      value: Buffer.from('gcp-first'),
      version: 'projects/lab-project/secrets/gw-key/versions/1',
    });
    const second = { ...world.gcpSecrets[0]!, value: 'gcp-second', version: 2 };
    expect(stores.deploy([], [world.gcpSecrets[0]!, second]).created).toEqual([
      'projects/lab-project/secrets/gw-key/versions/2',
    ]);
    expect(
      (await new GcpSecretSource({ name: 'projects/lab-project/secrets/gw-key', endpoint }).fetch()).value.toString(),
    ).toBe('gcp-second');
    expect(
      (
        await new GcpSecretSource({ name: 'projects/lab-project/secrets/gw-key/versions/1', endpoint }).fetch()
      ).value.toString(),
    ).toBe('gcp-first');
    expect(stores.accesses.at(-1)).toMatchObject({ instance: 'gcp-gw', status: 200 });
    // A deploy without version 1 (a retired key generation) destroys it.
    expect(stores.deploy([], [second]).destroyed).toEqual(['projects/lab-project/secrets/gw-key/versions/1']);
    await expect(
      new GcpSecretSource({ name: 'projects/lab-project/secrets/gw-key/versions/1', endpoint }).fetch(),
    ).rejects.toThrow(/FAILED_PRECONDITION/);
    expect(
      (await new GcpSecretSource({ name: 'projects/lab-project/secrets/gw-key', endpoint }).fetch()).value.toString(),
    ).toBe('gcp-second');
  });

  test("GetSecretVersion gives the version's createTime (the key's age) with a viewer binding, PERMISSION_DENIED without", async () => {
    const key = new GcpSecretSource({ name: 'projects/lab-project/secrets/gw-key', endpoint });
    const before = Date.now();
    const created = await key.createdAt(await key.fetch());
    expect(created).toBeLessThanOrEqual(before);
    expect(created).toBeGreaterThan(before - 600_000);
    // Readable but not viewable: the payload yes, its metadata no.
    const config = new GcpSecretSource({ name: 'projects/lab-project/secrets/gw-config/versions/1', endpoint });
    await expect(config.createdAt(await config.fetch())).rejects.toThrow(/createTime could not be read/);
    expect(stores.accesses.at(-1)).toMatchObject({ instance: 'gcp-gw', status: 403, error: 'PERMISSION_DENIED' });
  });

  test('a secret without an accessor binding for the account is PERMISSION_DENIED', async () => {
    await expect(
      new GcpSecretSource({ name: 'projects/lab-project/secrets/other-key', endpoint }).fetch(),
    ).rejects.toThrow(/PERMISSION_DENIED \(gRPC status 7\)/);
    expect(stores.accesses.at(-1)).toMatchObject({ instance: 'gcp-gw', status: 403, error: 'PERMISSION_DENIED' });
  });
});

describe('the edge: npm registry and Debian mirror', () => {
  const work = mkdtempSync(join(tmpdir(), 'wiremesh-lab-edge-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  test('npm installs a package and its dependencies from the lab registry, integrity checked', async () => {
    // A small published dependency of the agent with a dependency of its own.
    const root = packageRoot();
    const manifest = { name: 'lab-probe', version: '1.0.0', dependencies: { 'prom-client': '15.1.3' } };
    const probe = join(work, 'probe');
    mkdirSync(join(probe, 'package'), { recursive: true });
    writeFileSync(join(probe, 'package', 'package.json'), JSON.stringify(manifest));
    execFileSync('tar', ['-czf', join(work, 'lab-probe-1.0.0.tgz'), '-C', probe, 'package']);
    const content = npmRegistryContent(join(work, 'lab-probe-1.0.0.tgz'), manifest, root, join(work, 'cache'));
    expect([...content.packages.keys()].sort()).toEqual([
      '@opentelemetry/api',
      'bintrees',
      'lab-probe',
      'prom-client',
      'tdigest',
    ]);
    let registry = '';
    registry = await serve((request, response) => npmRegistryHandler(content, registry)(request, response));
    const target = join(work, 'install');
    mkdirSync(target);
    // Asynchronously: the registry answers from this process.
    await promisify(execFile)('npm', [
      'install',
      '--prefix',
      target,
      '--registry',
      `${registry}/`,
      '--cache',
      join(work, 'npm-cache'),
      '--no-audit',
      '--no-fund',
      'lab-probe@1.0.0',
    ]);
    const installed = JSON.parse(readFileSync(join(target, 'node_modules', 'prom-client', 'package.json'), 'utf8')) as {
      version: string;
    };
    expect(installed.version).toBe('15.1.3');
  }, 60_000);

  const withGpg = hasCommand('gpg') && hasCommand('gpgv') && hasCommand('dpkg-deb') ? test : test.skip;
  withGpg('the mirror signs InRelease with the lab key and indexes its pool with sizes and SHA256', async () => {
    const pool = join(work, 'pool', 'main');
    mkdirSync(join(work, 'deb', 'DEBIAN'), { recursive: true });
    mkdirSync(pool, { recursive: true });
    writeFileSync(
      join(work, 'deb', 'DEBIAN', 'control'),
      'Package: lab-probe\nVersion: 1.0\nArchitecture: all\nMaintainer: lab <lab@wiremesh.invalid>\nDescription: probe\n',
    );
    execFileSync('dpkg-deb', ['--build', join(work, 'deb'), join(pool, 'lab-probe_1.0_all.deb')], { stdio: 'pipe' });
    const gnupg = join(work, 'gnupg');
    const key = labAptKey(gnupg);
    const mirror = aptMirror(pool, gnupg);
    writeFileSync(join(work, 'keyring.gpg'), key);
    writeFileSync(join(work, 'InRelease'), mirror.inRelease('bookworm'));
    execFileSync('gpgv', ['--keyring', join(work, 'keyring.gpg'), join(work, 'InRelease')], { stdio: 'pipe' });
    const sha = createHash('sha256').update(mirror.packages).digest('hex');
    expect(mirror.inRelease('bookworm')).toContain(
      ` ${sha} ${Buffer.byteLength(mirror.packages)} main/binary-amd64/Packages`,
    );
    expect(mirror.packages).toContain('Package: lab-probe\n');
    expect(mirror.packages).toContain('Filename: pool/main/lab-probe_1.0_all.deb');
    const base = await serve(aptMirrorHandler(mirror));
    expect((await fetch(`${base}/debian/pool/main/lab-probe_1.0_all.deb`)).status).toBe(200);
    expect((await fetch(`${base}/debian/pool/main/..%2F..%2Fkeyring.gpg`)).status).toBe(404);
  });
});
