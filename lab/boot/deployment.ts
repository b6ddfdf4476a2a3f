/**
 * Step 1 of the boot lab: run an example program under Pulumi mocks and take, from the recorded
 * resource graph, what the clouds would hold after `pulumi up`: the exact user data of each
 * gateway instance, every secret value the program stores (with its ARN / resource name and
 * version), the objects it uploads (the agent artifacts, with their local files), and who may read
 * which secret and object (the AWS role policies, the GCP accessor and objectViewer bindings).
 *
 * Runs in its own process (deployment-main.ts): the Pulumi runtime is global and an example
 * program is a module, so each deploy needs a fresh one. `clockOffsetMs` moves the program's
 * clock (the key rotation epoch) forward for the second deploy of the rotation measurement.
 */
import { join } from 'node:path';
import { awsMockOptions } from '../../components/aws/testing';
import { gcpMockNewResource } from '../../components/gcp/testing';
import { resolve, setupMocks, unwrapSecrets, type MockRecorder, type RecordedResource } from '../../components/testing';
import { loadMeshSpecForDeployment } from '../../components/mesh';
import { packageRoot } from '../../agent/package-root';

export const EXAMPLES = ['aws-gcp', 'hub-spoke-ha', 'existing-vpc'] as const;
export type ExampleName = (typeof EXAMPLES)[number];

export interface AwsSecretRecord {
  arn: string;
  name: string;
  value: string;
  versionId: string;
}

export interface GcpSecretRecord {
  /** projects/P/secrets/S, as the agent names it. */
  name: string;
  secretId: string;
  value: string;
}

/** An uploaded object (an agent artifact) and the local file it holds. */
export type ArtifactObjectRecord =
  | { store: 's3'; region: string; bucket: string; key: string; path: string }
  | { store: 'gcs'; bucket: string; object: string; path: string };

export interface LabGateway {
  /** The instance's logical name, e.g. aws-gcp-aws-eu-instance-0. */
  name: string;
  cloud: 'aws' | 'gcp';
  site: string;
  /** The site's address ranges (the VPC / subnet ranges of the spec). */
  siteCidrs: string[];
  /** The exact user data the instance gets. */
  userData: string;
  /** The instance's public address (Elastic IP / static external address). */
  publicIp: string;
  /**
   * AWS: the role of the instance profile, the secret ARNs its policies allow GetSecretValue on and
   * the object ARNs they allow s3:GetObject on.
   */
  role?: { name: string; readableSecretArns: string[]; readableObjectArns: string[] };
  /**
   * GCP: the service account, the secret ids it holds roles/secretmanager.secretAccessor on and the
   * objects (`projects/_/buckets/B/objects/O`) its roles/storage.objectViewer bindings reach.
   */
  serviceAccount?: { email: string; readableSecretIds: string[]; readableObjects: string[] };
}

export interface LabDeployment {
  example: ExampleName;
  awsRegion: string;
  gcpProject: string;
  gateways: LabGateway[];
  awsSecrets: AwsSecretRecord[];
  gcpSecrets: GcpSecretRecord[];
  artifacts: ArtifactObjectRecord[];
}

const T = {
  awsInstance: 'aws:ec2/instance:Instance',
  eip: 'aws:ec2/eip:Eip',
  profile: 'aws:iam/instanceProfile:InstanceProfile',
  role: 'aws:iam/role:Role',
  rolePolicy: 'aws:iam/rolePolicy:RolePolicy',
  awsSecret: 'aws:secretsmanager/secret:Secret',
  awsSecretVersion: 'aws:secretsmanager/secretVersion:SecretVersion',
  gcpInstance: 'gcp:compute/instance:Instance',
  gcpSecret: 'gcp:secretmanager/secret:Secret',
  gcpSecretVersion: 'gcp:secretmanager/secretVersion:SecretVersion',
  gcpSecretIam: 'gcp:secretmanager/secretIamMember:SecretIamMember',
  s3Bucket: 'aws:s3/bucket:Bucket',
  s3Object: 'aws:s3/bucketObjectv2:BucketObjectv2',
  gcsObject: 'gcp:storage/bucketObject:BucketObject',
  gcsIam: 'gcp:storage/bucketIAMMember:BucketIAMMember',
} as const;

const AWS_REGION = 'eu-west-1';

/** Stack configuration per example: the agent artifact, the lab's own cloud resources (VPC, subnets, routes). */
function stackConfig(example: ExampleName, agentArtifact: string): Record<string, unknown> {
  switch (example) {
    case 'aws-gcp':
      return {
        agentArtifact,
        awsVpcId: 'vpc-0lab',
        awsSubnetId: 'subnet-0lab',
        awsRouteTableIds: ['rtb-0lab'],
        gcpNetwork: 'lab-vpc',
        gcpSubnetwork: 'lab-gateways',
        gcpZone: 'europe-west1-b',
        awsSourceCidrs: ['198.51.100.1/32'],
      };
    default:
      throw new Error(`the boot lab has no stack configuration for example ${example} yet (only aws-gcp)`);
  }
}

function projectName(example: ExampleName): string {
  return `wiremesh-${example}`;
}

/** Runs the example under mocks with `agentArtifact` (the packed tarball) and returns what the clouds would hold. */
export async function deployExample(example: ExampleName, agentArtifact: string): Promise<LabDeployment> {
  const project = projectName(example);
  const config = Object.fromEntries(
    Object.entries(stackConfig(example, agentArtifact)).map(([k, v]) => [
      `${project}:${k}`,
      typeof v === 'string' ? v : JSON.stringify(v),
    ]),
  );
  const aws = awsMockOptions({ region: AWS_REGION, vpcCidrs: ['10.10.0.0/16'] });
  const gcp = gcpMockNewResource();
  const mocks = setupMocks({
    project,
    config,
    newResource: (args) => aws.newResource!(args) ?? gcp(args),
    call: (args) => aws.call!(args),
  });
  const directory = join(packageRoot(), 'examples', example);
  const program = require(join(directory, 'index')) as Record<string, unknown>;
  for (const output of Object.values(program)) await resolve(output as never);
  await mocks.settle();
  const { spec } = loadMeshSpecForDeployment(join(directory, 'mesh.yaml'));
  return readDeployment(example, mocks, spec.sites);
}

async function readDeployment(
  example: ExampleName,
  mocks: MockRecorder,
  sites: Array<{ name: string; cidrs: string[] }>,
): Promise<LabDeployment> {
  const siteOf = (instanceName: string) => {
    const site = sites.find((s) => instanceName.includes(`-${s.name}-`));
    if (!site) throw new Error(`lab: no site of the spec matches instance ${instanceName}`);
    return site;
  };
  const awsSecrets = mocks.byType(T.awsSecretVersion).map((version): AwsSecretRecord => {
    const secret = mocks.byType(T.awsSecret).find((s) => s.id === version.inputs.secretId);
    if (!secret) throw new Error(`lab: secret version ${version.name} has no secret`);
    return {
      arn: secret.state!.arn as string,
      name: secret.state!.name as string,
      value: unwrapSecrets<string>(version.inputs.secretString),
      versionId: version.state!.versionId as string,
    };
  });
  const gcpSecrets = mocks.byType(T.gcpSecretVersion).map((version): GcpSecretRecord => {
    const secret = mocks.byType(T.gcpSecret).find((s) => s.id === version.inputs.secret);
    if (!secret) throw new Error(`lab: secret version ${version.name} has no secret`);
    return {
      name: secret.id!,
      secretId: secret.state!.secretId as string,
      value: unwrapSecrets<string>(version.inputs.secretData),
    };
  });
  const policiesOf = (role: RecordedResource) => mocks.byType(T.rolePolicy).filter((p) => p.inputs.role === role.id);
  const gateways: LabGateway[] = [];
  for (const instance of mocks.byType(T.awsInstance)) {
    const site = siteOf(instance.name);
    const eni = (instance.inputs.primaryNetworkInterface as { networkInterfaceId: string }).networkInterfaceId;
    const eip = mocks.byType(T.eip).find((e) => e.inputs.networkInterface === eni);
    const profile = mocks.byType(T.profile).find((p) => p.state!.name === instance.inputs.iamInstanceProfile);
    const role = mocks.byType(T.role).find((r) => r.id === profile?.inputs.role);
    if (!eip || !profile || !role)
      throw new Error(`lab: instance ${instance.name} lacks its Elastic IP, instance profile or role`);
    gateways.push({
      name: instance.name,
      cloud: 'aws',
      site: site.name,
      siteCidrs: site.cidrs,
      userData: unwrapSecrets<string>(instance.inputs.userData),
      publicIp: eip.state!.publicIp as string,
      role: {
        name: role.state!.name as string,
        readableSecretArns: allowedResources(policiesOf(role), 'secretsmanager:GetSecretValue'),
        readableObjectArns: allowedResources(policiesOf(role), 's3:GetObject'),
      },
    });
  }
  for (const instance of mocks.byType(T.gcpInstance)) {
    const site = siteOf(instance.name);
    const email = (instance.inputs.serviceAccount as { email: string }).email;
    const nic = (instance.inputs.networkInterfaces as Array<{ accessConfigs?: Array<{ natIp?: string }> }>)[0];
    gateways.push({
      name: instance.name,
      cloud: 'gcp',
      site: site.name,
      siteCidrs: site.cidrs,
      userData: unwrapSecrets<string>(instance.inputs.metadata['user-data']),
      publicIp: nic?.accessConfigs?.[0]?.natIp ?? '',
      serviceAccount: {
        email,
        readableSecretIds: mocks
          .byType(T.gcpSecretIam)
          .filter(
            (g) =>
              g.inputs.role === 'roles/secretmanager.secretAccessor' &&
              unwrapSecrets(g.inputs.member) === `serviceAccount:${email}`,
          )
          .map((g) => g.inputs.secretId as string),
        readableObjects: readableObjects(mocks, email),
      },
    });
  }
  const gcpProject = (mocks.byType(T.gcpSecret)[0]?.state?.project as string | undefined) ?? 'mock-project';
  const artifacts = await artifactObjects(mocks);
  return { example, awsRegion: AWS_REGION, gcpProject, gateways, awsSecrets, gcpSecrets, artifacts };
}

/** The uploaded objects: bucket, key / name, and the file of their FileAsset (a promise in the mock's inputs). */
async function artifactObjects(mocks: MockRecorder): Promise<ArtifactObjectRecord[]> {
  const fileOf = (object: RecordedResource) => (object.inputs.source as { path: Promise<string> }).path;
  const records: ArtifactObjectRecord[] = [];
  for (const object of mocks.byType(T.s3Object)) {
    const bucket = mocks.byType(T.s3Bucket).find((b) => b.id === object.inputs.bucket);
    if (!bucket) throw new Error(`lab: S3 object ${object.name} has no bucket`);
    const region = bucket.state!.region as string;
    records.push({
      store: 's3',
      region,
      bucket: bucket.state!.bucket,
      key: object.inputs.key,
      path: await fileOf(object),
    });
  }
  for (const object of mocks.byType(T.gcsObject)) {
    records.push({
      store: 'gcs',
      bucket: object.inputs.bucket,
      object: object.inputs.name,
      path: await fileOf(object),
    });
  }
  return records;
}

/**
 * The objects a service account's roles/storage.objectViewer bindings reach: the one object of an
 * IAM condition `resource.name == "projects/_/buckets/B/objects/O"` (what the components write).
 */
function readableObjects(mocks: MockRecorder, email: string): string[] {
  return mocks
    .byType(T.gcsIam)
    .filter(
      (g) =>
        g.inputs.role === 'roles/storage.objectViewer' && unwrapSecrets(g.inputs.member) === `serviceAccount:${email}`,
    )
    .flatMap((g) => {
      const condition = /^resource\.name == "([^"]+)"$/.exec(String(g.inputs.condition?.expression ?? ''));
      return condition ? [condition[1]!] : [];
    });
}

/** The resources that Allow statements grant `action` on (no wildcards in our policies). */
function allowedResources(policies: RecordedResource[], action: string): string[] {
  const arns: string[] = [];
  for (const policy of policies) {
    const document = JSON.parse(unwrapSecrets<string>(policy.inputs.policy)) as {
      Statement: Array<{ Effect: string; Action: string | string[]; Resource: string | string[] }>;
    };
    for (const statement of document.Statement) {
      const actions = [statement.Action].flat();
      if (statement.Effect === 'Allow' && actions.includes(action)) arns.push(...[statement.Resource].flat());
    }
  }
  return arns;
}
