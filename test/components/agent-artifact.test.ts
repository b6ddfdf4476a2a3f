/**
 * The agent artifact under mocks (components/artifact.ts, aws/artifact.ts, gcp/artifact.ts): the
 * tarball's checks with their messages; on AWS its S3 object (content-addressed key, S3-checked
 * SHA-256, private bucket), the role's s3:GetObject on exactly that object's ARN and nothing else
 * in S3, the sha256 and the signed download in the user data; on GCP its Cloud Storage object, the
 * service account's objectViewer conditioned on exactly that object, the media download; a mesh
 * with `agentArtifact`; no user data pointing at a registry package.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as pulumi from '@pulumi/pulumi';
import { readAgentArtifact } from '../../components/artifact';
import { agentInstallScript } from '../../components/bootstrap';
import { AwsGateway } from '../../components/aws/gateway';
import type { AwsGatewayArgs } from '../../components/aws/gateway-args';
import type { IamPolicyDocument } from '../../components/aws/policy';
import { awsMockOptions } from '../../components/aws/testing';
import { OBJECT_VIEWER_ROLE } from '../../components/gcp/artifact';
import { GcpGateway } from '../../components/gcp/gateway';
import type { GcpGatewayArgs } from '../../components/gcp/gateway-args';
import { gcpMockNewResource } from '../../components/gcp/testing';
import { generateWireGuardKeyPair } from '../../components/key';
import { RemoteHostAgent } from '../../components/remote-host';
import { resolve, setupMocks, unwrapSecrets, type MockRecorder, type RecordedResource } from '../../components/testing';
import { describeWithRoot } from '../support/root-only';
import { PEER_KEY } from './aws-support';

const workDirectory = mkdtempSync(join(tmpdir(), 'wiremesh-artifact-test-'));
afterAll(() => rmSync(workDirectory, { recursive: true, force: true }));

/** A tarball shaped like `npm pack` of the agent (package/...), made with the real tar. */
function agentTarball(name: string, options: { omit?: string[]; arch?: string } = {}): string {
  const root = join(workDirectory, `${name}-tree`);
  const files: Record<string, string> = {
    'package/package.json': JSON.stringify({ name: 'wiremesh', version: '0.1.0' }),
    'package/bin/wiremesh-agent.js': '#!/usr/bin/env node\n',
    'package/agent/systemd/wiremesh-agent.service': '[Unit]\n',
    [`package/prebuilds/linux-${options.arch ?? 'x64'}/wiremesh-native.node`]: 'addon',
  };
  for (const [path, content] of Object.entries(files)) {
    if (options.omit?.includes(path)) continue;
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), content);
  }
  const tarball = join(workDirectory, `${name}.tgz`);
  execFileSync('tar', ['-czf', tarball, '--format=ustar', '-C', root, 'package']);
  return tarball;
}

/** The file of a recorded FileAsset input (the mock monitor hands its path over as a promise). */
const assetPath = (resource: RecordedResource) => (resource.inputs.source as { path: Promise<string> }).path;

const sha256Of = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

describe('readAgentArtifact', () => {
  it('gives the sha256 and a content-addressed object name', () => {
    const tarball = agentTarball('good');
    const artifact = readAgentArtifact('G', 'agent.artifact', tarball);
    expect(artifact).toEqual({
      path: tarball,
      sha256: sha256Of(tarball),
      objectName: `wiremesh-agent/${sha256Of(tarball)}.tgz`,
    });
    expect(execFileSync('sha256sum', [tarball], { encoding: 'utf8' }).split(' ')[0]).toBe(artifact.sha256);
  });

  it.each([
    ['a non-tarball path', () => 'wiremesh.zip', 'G: agent.artifact must be the path of the agent tarball'],
    ['a missing file', () => join(workDirectory, 'absent.tgz'), 'absent.tgz" does not exist (make it with `npm pack`'],
    [
      'a file that is not gzip',
      () => {
        writeFileSync(join(workDirectory, 'plain.tgz'), 'not gzip');
        return join(workDirectory, 'plain.tgz');
      },
      'plain.tgz" is not a gzip-compressed tar file',
    ],
    [
      'a package without the agent',
      () => agentTarball('no-bin', { omit: ['package/bin/wiremesh-agent.js'] }),
      'no-bin.tgz" is not a packed wiremesh agent: it has no package/bin/wiremesh-agent.js',
    ],
    [
      'a package without the prebuilt addon for the VMs',
      () => agentTarball('arm-only', { arch: 'arm64' }),
      'arm-only.tgz" has no prebuilt addon for linux-x64 (package/prebuilds/linux-x64/): the VMs have no compiler',
    ],
  ])('refuses %s, naming the field', (_, path, message) => {
    expect(() => readAgentArtifact('G', 'agent.artifact', path())).toThrow(message);
  });

  it('looks for the addon of the architecture asked for', () => {
    expect(readAgentArtifact('G', 'agent.artifact', agentTarball('arm', { arch: 'arm64' }), 'arm64').sha256).toMatch(
      /^[0-9a-f]{64}$/,
    );
  });
});

const agentConfig = {
  interface: { addresses: ['10.99.0.1/24'] },
  peers: [{ name: 'site-b', publicKey: PEER_KEY, endpoint: '203.0.113.7:51820', allowedIps: ['10.20.0.0/16'] }],
};

function userDataOf(instance: RecordedResource, field: 'aws' | 'gcp'): string {
  return unwrapSecrets<string>(field === 'aws' ? instance.inputs.userData : instance.inputs.metadata['user-data']);
}

describe('AwsGateway with agent.artifact', () => {
  let mocks: MockRecorder;
  let tarball: string;
  beforeAll(async () => {
    tarball = agentTarball('aws');
    mocks = setupMocks(awsMockOptions());
    const args: AwsGatewayArgs = {
      siteName: 'site-a',
      vpcId: 'vpc-0a',
      subnets: [{ subnetId: 'subnet-a', routeTableIds: ['rtb-a'] }],
      remoteCidrs: ['10.20.0.0/16'],
      peerCidrs: ['203.0.113.7/32'],
      agent: { artifact: tarball, config: agentConfig },
    };
    const gateway = new AwsGateway('site-a', args);
    await resolve(gateway.instanceIds);
    await mocks.settle();
  });

  it('uploads the tarball to a private bucket of the gateway, under its sha256, checked by S3', async () => {
    const bucket = mocks.one('aws:s3/bucket:Bucket');
    expect(bucket.inputs).toMatchObject({ bucketPrefix: 'site-a-agent-', forceDestroy: true });
    expect(mocks.one('aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock').inputs).toMatchObject({
      bucket: bucket.id,
      blockPublicAcls: true,
      blockPublicPolicy: true,
      ignorePublicAcls: true,
      restrictPublicBuckets: true,
    });
    const object = mocks.one('aws:s3/bucketObjectv2:BucketObjectv2');
    expect(object.inputs).toMatchObject({
      bucket: bucket.id,
      key: `wiremesh-agent/${sha256Of(tarball)}.tgz`,
      checksumAlgorithm: 'SHA256',
    });
    expect(await assetPath(object)).toBe(tarball);
  });

  it('lets the instance role read exactly that object, and nothing else in S3', () => {
    const bucket = mocks.one('aws:s3/bucket:Bucket');
    const role = mocks.one('aws:iam/role:Role');
    const policies = mocks.byType('aws:iam/rolePolicy:RolePolicy').filter((p) => p.inputs.role === role.id);
    const statements = policies.flatMap(
      (p) => (JSON.parse(unwrapSecrets<string>(p.inputs.policy)) as IamPolicyDocument).Statement,
    );
    const s3 = statements.filter((s) => [s.Action].flat().some((a) => a.startsWith('s3:')));
    expect(s3).toEqual([
      {
        Sid: 'ReadAgentArtifact',
        Effect: 'Allow',
        Action: 's3:GetObject',
        Resource: `arn:aws:s3:::${bucket.state!.bucket}/wiremesh-agent/${sha256Of(tarball)}.tgz`,
      },
    ]);
  });

  it("puts the sha256 and the signed download in the instance's user data, and boots after the grant", () => {
    const bucket = mocks.one('aws:s3/bucket:Bucket').state!.bucket as string;
    const readAgent = mocks.one('aws:iam/rolePolicy:RolePolicy', 'site-a-read-agent');
    const object = mocks.one('aws:s3/bucketObjectv2:BucketObjectv2');
    const instances = mocks.byType('aws:ec2/instance:Instance');
    expect(instances).toHaveLength(1);
    for (const instance of instances) {
      const userData = userDataOf(instance, 'aws');
      expect(userData).toContain(`AGENT_SHA256=${sha256Of(tarball)}`);
      expect(userData).toContain(
        `'https://${bucket}.s3.eu-west-1.amazonaws.com/wiremesh-agent/${sha256Of(tarball)}.tgz'`,
      );
      expect(userData).toContain("--aws-sigv4 'aws:amz:eu-west-1:s3'");
      expect(userData).toContain('sha256sum --check --status');
      expect(userData).not.toMatch(/wiremesh@/);
      expect(instance.dependencies).toEqual(expect.arrayContaining([readAgent.urn, object.urn]));
    }
  });
});

describe('GcpGateway with agent.artifact', () => {
  let mocks: MockRecorder;
  let tarball: string;
  beforeAll(async () => {
    tarball = agentTarball('gcp');
    mocks = setupMocks({ newResource: gcpMockNewResource() });
    const args: GcpGatewayArgs = {
      zones: ['europe-west1-b', 'europe-west1-c'],
      instanceCount: 2,
      network: 'projects/net/global/networks/vpc',
      subnetwork: 'projects/net/regions/europe-west1/subnetworks/gw',
      peerCidrs: ['198.51.100.7/32'],
      remoteCidrs: ['10.10.0.0/16'],
      agent: { artifact: tarball, config: agentConfig },
    };
    const gateway = new GcpGateway('gw', args);
    await resolve(gateway.userData);
    await Promise.all(gateway.instances.map((i) => resolve(i.id)));
    await mocks.settle();
  });

  it("uploads the tarball to the gateway's bucket under its sha256, public access prevented", async () => {
    const bucket = mocks.one('gcp:storage/bucket:Bucket');
    expect(bucket.inputs).toMatchObject({
      location: 'EUROPE-WEST1',
      uniformBucketLevelAccess: true,
      publicAccessPrevention: 'enforced',
    });
    const object = mocks.one('gcp:storage/bucketObject:BucketObject');
    expect(object.inputs).toMatchObject({
      bucket: bucket.state!.name,
      name: `wiremesh-agent/${sha256Of(tarball)}.tgz`,
    });
    expect(await assetPath(object)).toBe(tarball);
  });

  it('grants the service account objectViewer on exactly that object (an IAM condition), nothing else', () => {
    const bucket = mocks.one('gcp:storage/bucket:Bucket').state!.name as string;
    const email = mocks.one('gcp:serviceaccount/account:Account').state!.email as string;
    const grants = mocks.resources.filter((r) => /^gcp:storage\//.test(r.type) && /IAM/.test(r.type));
    expect(grants).toHaveLength(1);
    expect(grants[0]!.inputs).toMatchObject({
      bucket,
      role: OBJECT_VIEWER_ROLE,
      member: `serviceAccount:${email}`,
      condition: {
        expression: `resource.name == "projects/_/buckets/${bucket}/objects/wiremesh-agent/${sha256Of(tarball)}.tgz"`,
      },
    });
  });

  it("puts the sha256 and the token-authorized media download in every VM's user data", () => {
    const bucket = mocks.one('gcp:storage/bucket:Bucket').state!.name as string;
    const grant = mocks.one('gcp:storage/bucketIAMMember:BucketIAMMember');
    const instances = mocks.byType('gcp:compute/instance:Instance');
    expect(instances).toHaveLength(2);
    for (const instance of instances) {
      const userData = userDataOf(instance, 'gcp');
      expect(userData).toContain(`AGENT_SHA256=${sha256Of(tarball)}`);
      expect(userData).toContain(
        `'https://storage.googleapis.com/storage/v1/b/${bucket}/o/wiremesh-agent%2F${sha256Of(tarball)}.tgz?alt=media'`,
      );
      expect(userData).not.toMatch(/wiremesh@/);
      expect(instance.dependencies).toContain(grant.urn);
    }
  });
});

describe('RemoteHostAgent with agentArtifact', () => {
  it('copies the tarball over SSH, then installs it only after checking its sha256 as root', async () => {
    const mocks = setupMocks();
    const tarball = agentTarball('remote');
    const host = generateWireGuardKeyPair();
    const agent = new RemoteHostAgent('branch', {
      connection: { host: '203.0.113.10', user: 'admin', password: pulumi.secret('x') },
      agentArtifact: tarball,
      agentConfig: {
        interface: { name: 'wm0', addresses: ['10.99.0.3/32'] },
        privateKey: { source: 'file', path: '/etc/wiremesh/private.key' },
        peers: [{ name: 'hub', publicKey: PEER_KEY, endpoint: '203.0.113.7:51820', allowedIps: ['10.99.0.1/32'] }],
      },
      privateKey: host.privateKey,
    });
    await resolve(agent.install.urn);
    await mocks.settle();
    const uploaded = `/tmp/wiremesh-agent-${sha256Of(tarball)}.tgz`;
    const copy = mocks.one('command:remote:CopyToRemote');
    expect(copy.inputs).toMatchObject({ remotePath: uploaded, triggers: [sha256Of(tarball)] });
    expect(await assetPath(copy)).toBe(tarball);
    const install = mocks.one('command:remote:Command', 'branch-install');
    expect(install.dependencies).toContain(copy.urn);
    const script = unwrapSecrets<string>(install.inputs.create);
    const copied = script.indexOf(`install -m 0600 -o root -g root '\\''${uploaded}'\\''`);
    const checked = script.indexOf(`AGENT_SHA256=${sha256Of(tarball)}`);
    const installed = script.indexOf('npm install');
    expect(copied).toBeGreaterThan(-1);
    expect(copied < checked && checked < installed).toBe(true);
    expect(script).not.toMatch(/wiremesh@/);
  });
});

describeWithRoot('the artifact check of the install script, run', ['bash', 'sha256sum'])(
  'the artifact check of the install script, run',
  () => {
    /** The script's own artifact lines (root's directory moved into the scratch directory), run with bash. */
    function runArtifactLines(uploaded: string, sha256: string): { status: number; stderr: string; copy: string } {
      const state = mkdtempSync(join(workDirectory, 'state-'));
      const lines = agentInstallScript({ store: 'file', path: uploaded, sha256 }, '24').split('\n');
      const start = lines.findIndex((l) => l.startsWith('install -d -m 0755 /var/lib/wiremesh'));
      const end = lines.findIndex((l) => l.startsWith('# The pinned agent package'));
      const script = [
        'set -euo pipefail',
        lines.find((l) => l.startsWith('AGENT_PACKAGE='))!,
        ...lines.slice(start, end),
      ]
        .join('\n')
        .replaceAll('/var/lib/wiremesh', state);
      const run = spawnSync('bash', ['-c', script], { encoding: 'utf8' });
      return { status: run.status ?? -1, stderr: run.stderr, copy: join(state, 'wiremesh-agent.tgz') };
    }

    it('keeps a root-only copy of the uploaded tarball when its sha256 is the pinned one', () => {
      const tarball = agentTarball('checked');
      const run = runArtifactLines(tarball, sha256Of(tarball));
      expect(run).toMatchObject({ status: 0, stderr: '' });
      expect(statSync(run.copy).mode & 0o777).toBe(0o600);
      expect(sha256Of(run.copy)).toBe(sha256Of(tarball));
    });

    it('stops before installing a tarball whose sha256 differs', () => {
      const tarball = agentTarball('tampered');
      const pinned = sha256Of(tarball);
      writeFileSync(tarball, Buffer.concat([readFileSync(tarball), Buffer.from('x')]));
      const run = runArtifactLines(tarball, pinned);
      expect(run.status).toBe(1);
      expect(run.stderr).toContain(
        `wiremesh: the agent artifact is not the deployed one (sha256 differs from ${pinned})`,
      );
    });
  },
);

describe('agent.artifact and agent.package', () => {
  it('refuses both at once and neither, naming the fields', () => {
    setupMocks(awsMockOptions());
    const base = {
      siteName: 'site-a',
      vpcId: 'vpc-0a',
      subnets: [{ subnetId: 'subnet-a' }],
      remoteCidrs: ['10.20.0.0/16'],
      peerCidrs: ['203.0.113.7/32'],
    };
    expect(
      () =>
        new AwsGateway('both', {
          ...base,
          agent: {
            artifact: agentTarball('both'),
            package: 'https://artifacts.example.com/w.tgz',
            config: agentConfig,
          },
        }),
    ).toThrow('AwsGateway "both": agent.artifact and agent.package are exclusive: give one');
    expect(() => new AwsGateway('neither', { ...base, agent: { config: agentConfig } })).toThrow(
      'AwsGateway "neither": agent.artifact is required',
    );
  });
});
