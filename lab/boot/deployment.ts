/**
 * Step 1 of the boot lab: run an example program under Pulumi mocks and take, from the recorded
 * resource graph, what the clouds would hold after `pulumi up`: the exact user data of each
 * gateway instance, every secret value the program stores (with its ARN / resource name and
 * version), the objects it uploads (the agent artifacts, with their local files), and who may read
 * which secret and object (the AWS role policies, the GCP accessor and objectViewer bindings).
 *
 * Runs in its own process (deployment-main.ts): the Pulumi runtime is global and an example
 * program is a module, so each deploy needs a fresh one. The stack's state is carried from one
 * deploy to the next (components/program-runs.ts, saved in a file between the processes), as the
 * engine keeps it: a key generation keeps its key, a secret version its id or number. The clock
 * moved forward (deployment-main.ts) walks the key rotation's phases one deploy at a time.
 */
import { join } from 'node:path';
import { resolve, unwrapSecrets, type MockRecorder, type RecordedResource } from '../../components/testing';
import type { ProgramRuns, RunChanges } from '../../components/program-runs';
import type { KeyRotationPlan } from '../../components/rotation';
import { wireGuardKeyPairFromEntropy } from '../../components/key';
import { loadMeshSpecForDeployment } from '../../components/mesh';
import { packageRoot } from '../../agent/package-root';
import { AWS_TAG_SITE } from '../../common/defaults';

export const EXAMPLES = ['aws-gcp', 'hub-spoke-ha', 'existing-vpc'] as const;
export type ExampleName = (typeof EXAMPLES)[number];

export interface AwsSecretRecord {
  arn: string;
  name: string;
  value: string;
  versionId: string;
  /** The version's staging labels (AWSCURRENT unless the graph stages it otherwise, e.g. AWSPENDING). */
  stages: string[];
}

export interface GcpSecretRecord {
  /** projects/P/secrets/S, as the agent names it. */
  name: string;
  secretId: string;
  value: string;
  /** The version number (`.../versions/N`), as the stack's state holds it. */
  version: number;
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
  /** AWS: the private address and id of its primary network interface, as EC2 assigned them. */
  privateIp?: string;
  networkInterfaceId?: string;
  /**
   * AWS: the role of the instance profile, the secret ARNs its policies allow GetSecretValue on and
   * the object ARNs they allow s3:GetObject on.
   */
  role?: {
    name: string;
    readableSecretArns: string[];
    readableObjectArns: string[];
    /** The route-table ARNs its policies allow ec2:ReplaceRoute on (a failover group's). */
    replaceableRouteTableArns: string[];
    /** Whether they allow ec2:DescribeRouteTables (on "*": the action has no resource types). */
    describesRouteTables: boolean;
  };
  /**
   * GCP: the service account, the secret ids it holds roles/secretmanager.secretAccessor on and the
   * objects (`projects/_/buckets/B/objects/O`) its roles/storage.objectViewer bindings reach.
   */
  serviceAccount?: {
    email: string;
    readableSecretIds: string[];
    /** Secrets whose version metadata (createTime) it may read: roles/secretmanager.viewer. */
    viewableSecretIds: string[];
    readableObjects: string[];
  };
  /**
   * A group's standby: no route table entry points at it, and it holds the key without dialling
   * (the active member does), so it has no tunnel of its own.
   */
  standby?: boolean;
}

/** A target group's health check, as the graph's `aws.lb.TargetGroup` sets it. */
export interface LabHealthCheck {
  protocol: 'HTTP' | 'TCP';
  port: number;
  /** HTTP only. */
  path?: string;
  matcher?: string;
  intervalSeconds: number;
  timeoutSeconds: number;
  healthyThreshold: number;
  unhealthyThreshold: number;
}

/** A network load balancer in front of a group (AWS NLB): its DNS name, Elastic IPs and targets. */
export interface LabLoadBalancer {
  site: string;
  dnsName: string;
  publicIps: string[];
  port: number;
  /** The instances (logical names) its target group attachments register, in the graph's order. */
  targets: string[];
  healthCheck: LabHealthCheck;
}

/** A VPC route table of the graph: its routes (the `aws.ec2.Route`s) and the site whose gateways they target. */
export interface LabRouteTable {
  id: string;
  site: string;
  routes: Array<{ destination: string; networkInterfaceId: string }>;
}

/** A site outside the clouds running plain WireGuard (the lab runs it, as the remote party would). */
export interface LabRemoteSite {
  name: string;
  cidrs: string[];
  publicIp: string;
  listenPort: number;
  privateKey: string;
  /** The [Peer] section(s) the program outputs for it, in wg-quick form. */
  peerConfig: string;
}

export interface LabDeployment {
  example: ExampleName;
  awsRegion: string;
  gcpProject: string;
  gateways: LabGateway[];
  loadBalancers: LabLoadBalancer[];
  routeTables: LabRouteTable[];
  remoteSites: LabRemoteSite[];
  /** Public keys of peers the lab does not run (hub-spoke-ha's branch office): no handshake expected. */
  absentPeers: string[];
  awsSecrets: AwsSecretRecord[];
  gcpSecrets: GcpSecretRecord[];
  artifacts: ArtifactObjectRecord[];
  /** The `rotationPlan` stack output: per cloud site, where its key is in its rotation (components/rotation.ts). */
  rotationPlan: Record<string, KeyRotationPlan>;
  /** What this deploy did to the stack's resources (`type::name`), against the previous deploy. */
  changes: RunChanges;
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
  loadBalancer: 'aws:lb/loadBalancer:LoadBalancer',
  listener: 'aws:lb/listener:Listener',
  targetGroup: 'aws:lb/targetGroup:TargetGroup',
  eni: 'aws:ec2/networkInterface:NetworkInterface',
  targetAttachment: 'aws:lb/targetGroupAttachment:TargetGroupAttachment',
  awsRoute: 'aws:ec2/route:Route',
} as const;

const AWS_REGION = 'eu-west-1';

/**
 * The lab's stack for an example: its configuration (the lab's own cloud resources: VPC, subnets,
 * route tables, addresses in the lab's public ranges), the VPC ranges the AWS lookups answer, the
 * sites when the program has no mesh.yaml, and the remote plain-WireGuard site it peers with.
 */
interface LabStack {
  config: Record<string, unknown>;
  awsVpcCidrs: string[];
  sites?: Array<{ name: string; cidrs: string[] }>;
  remote?: Omit<LabRemoteSite, 'peerConfig'> & { peerConfigOutput: string };
  absentPeers?: string[];
}

/** Fixed lab keys of the parties outside the clouds (not secrets: the lab's own test parties). */
const BRANCH_KEY = wireGuardKeyPairFromEntropy(new Uint8Array(32).fill(11));
const REMOTE_KEY = wireGuardKeyPairFromEntropy(new Uint8Array(32).fill(12));

function labStack(example: ExampleName, agentArtifact: string): LabStack {
  switch (example) {
    case 'aws-gcp':
      return {
        awsVpcCidrs: ['10.10.0.0/16'],
        config: {
          agentArtifact,
          awsVpcId: 'vpc-0lab',
          awsSubnetId: 'subnet-0lab',
          awsRouteTableIds: ['rtb-0lab'],
          gcpNetwork: 'lab-vpc',
          gcpSubnetwork: 'lab-gateways',
          gcpZone: 'europe-west1-b',
          awsSourceCidrs: ['198.51.100.1/32'],
          // The lab's agents run the userspace plane (no kernel module here): two keys per peer
          // through a rotation. Polling every 5 s keeps the rotation's deploys short.
          dataPlane: 'userspace',
          configPollSeconds: 5,
        },
      };
    case 'hub-spoke-ha':
      // The branch office (an on-prem host the program reaches over SSH) is not booted: its two
      // remote commands are recorded in the graph, and the hub and the GCP spoke are the gateways.
      return {
        awsVpcCidrs: ['10.0.0.0/16'],
        absentPeers: [BRANCH_KEY.publicKey],
        config: {
          agentArtifact,
          hubVpcId: 'vpc-0lab',
          hubSubnets: [
            { subnetId: 'subnet-0lab-a', routeTableIds: ['rtb-0laba'] },
            { subnetId: 'subnet-0lab-b', routeTableIds: ['rtb-0labb'] },
          ],
          gcpNetwork: 'lab-vpc',
          gcpSubnetwork: 'lab-gateways',
          gcpZone: 'europe-west4-a',
          branchHost: '203.0.113.10',
          branchUser: 'admin',
          branchSshKey: 'lab: the branch host is not booted',
          branchWireguardKey: BRANCH_KEY.privateKey,
          branchSourceCidrs: ['203.0.113.10/32'],
          hubSourceCidrs: ['198.51.100.1/32', '198.51.100.2/32'],
        },
      };
    case 'existing-vpc':
      return {
        awsVpcCidrs: ['10.50.0.0/16'],
        sites: [{ name: 'edge', cidrs: ['10.50.0.0/16'] }],
        config: {
          agentArtifact,
          vpcId: 'vpc-0lab',
          subnetIds: ['subnet-0lab'],
          routeTableIds: { 'subnet-0lab': ['rtb-0lab'] },
          remotePublicKey: REMOTE_KEY.publicKey,
          remoteEndpoint: '203.0.113.50:51820',
          remoteCidrs: ['172.16.0.0/16'],
        },
        remote: {
          name: 'dc',
          cidrs: ['172.16.0.0/16'],
          publicIp: '203.0.113.50',
          listenPort: 51820,
          privateKey: REMOTE_KEY.privateKey,
          peerConfigOutput: 'remotePeerConfig',
        },
      };
  }
}

function projectName(example: ExampleName): string {
  return `wiremesh-${example}`;
}

/**
 * Runs the example under mocks with `agentArtifact` (the packed tarball), as the next deploy of the
 * stack whose state `runs` carries, and returns what the clouds would hold.
 */
export async function deployExample(
  example: ExampleName,
  agentArtifact: string,
  runs: ProgramRuns,
): Promise<LabDeployment> {
  const project = projectName(example);
  const stack = labStack(example, agentArtifact);
  const config = Object.fromEntries(
    Object.entries(stack.config).map(([k, v]) => [`${project}:${k}`, typeof v === 'string' ? v : JSON.stringify(v)]),
  );
  const directory = join(packageRoot(), 'examples', example);
  const outputs: Record<string, unknown> = {};
  const { mocks, changes } = await runs.run(
    async () => {
      // A program is a module of outputs, or (existing-vpc) a function returning them.
      const loaded = require(join(directory, 'index')) as
        Record<string, unknown> | (() => Promise<Record<string, unknown>>);
      const program = typeof loaded === 'function' ? await loaded() : loaded;
      for (const [name, output] of Object.entries(program)) outputs[name] = await resolve(output as never);
    },
    { project, config, aws: { region: AWS_REGION, vpcCidrs: stack.awsVpcCidrs } },
  );
  const sites = stack.sites ?? loadMeshSpecForDeployment(join(directory, 'mesh.yaml')).spec.sites;
  const remoteSites: LabRemoteSite[] = [];
  if (stack.remote) {
    const { peerConfigOutput, ...remote } = stack.remote;
    remoteSites.push({ ...remote, peerConfig: unwrapSecrets<string>(outputs[peerConfigOutput]) });
  }
  return {
    ...(await readDeployment(example, mocks, sites)),
    remoteSites,
    absentPeers: stack.absentPeers ?? [],
    rotationPlan: unwrapSecrets<Record<string, KeyRotationPlan>>(outputs.rotationPlan ?? {}),
    changes,
  };
}

async function readDeployment(
  example: ExampleName,
  mocks: MockRecorder,
  sites: Array<{ name: string; cidrs: string[] }>,
): Promise<Omit<LabDeployment, 'remoteSites' | 'absentPeers' | 'rotationPlan' | 'changes'>> {
  const siteOf = (instanceName: string) => {
    const site = sites.find((s) => instanceName.startsWith(`${s.name}-`) || instanceName.includes(`-${s.name}-`));
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
      stages: unwrapSecrets<string[] | undefined>(version.inputs.versionStages) ?? ['AWSCURRENT'],
    };
  });
  const gcpSecrets = mocks.byType(T.gcpSecretVersion).map((version): GcpSecretRecord => {
    const secret = mocks.byType(T.gcpSecret).find((s) => s.id === version.inputs.secret);
    if (!secret) throw new Error(`lab: secret version ${version.name} has no secret`);
    return {
      name: secret.id!,
      secretId: secret.state!.secretId as string,
      value: unwrapSecrets<string>(version.inputs.secretData),
      version: Number(version.state!.version),
    };
  });
  const policiesOf = (role: RecordedResource) => mocks.byType(T.rolePolicy).filter((p) => p.inputs.role === role.id);
  const gateways: LabGateway[] = [];
  const loadBalancers = readLoadBalancers(mocks);
  // Group members: the instances that share a site's key (more than one instance in the site).
  const routedEnis = new Set(mocks.byType(T.awsRoute).map((r) => r.inputs.networkInterfaceId as string));
  for (const instance of mocks.byType(T.awsInstance)) {
    const site = siteOf(instance.name);
    const eniId = (instance.inputs.primaryNetworkInterface as { networkInterfaceId: string }).networkInterfaceId;
    const eni = mocks.byType(T.eni).find((e) => e.id === eniId);
    const eip = mocks.byType(T.eip).find((e) => e.inputs.networkInterface === eniId);
    const profile = mocks.byType(T.profile).find((p) => p.state!.name === instance.inputs.iamInstanceProfile);
    const role = mocks.byType(T.role).find((r) => r.id === profile?.inputs.role);
    if (!eni || !eip || !profile || !role)
      throw new Error(
        `lab: instance ${instance.name} lacks its network interface, Elastic IP, instance profile or role`,
      );
    const grouped = loadBalancers.some((lb) => lb.site === site.name);
    gateways.push({
      name: instance.name,
      cloud: 'aws',
      site: site.name,
      siteCidrs: site.cidrs,
      userData: unwrapSecrets<string>(instance.inputs.userData),
      publicIp: eip.state!.publicIp as string,
      privateIp: eni.state!.privateIp as string,
      networkInterfaceId: eniId,
      ...(grouped && !routedEnis.has(eniId) && { standby: true }),
      role: {
        name: role.state!.name as string,
        readableSecretArns: allowedResources(policiesOf(role), 'secretsmanager:GetSecretValue'),
        readableObjectArns: allowedResources(policiesOf(role), 's3:GetObject'),
        replaceableRouteTableArns: allowedResources(policiesOf(role), 'ec2:ReplaceRoute'),
        describesRouteTables: allowedResources(policiesOf(role), 'ec2:DescribeRouteTables').includes('*'),
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
        readableSecretIds: secretsGranted(mocks, email, 'roles/secretmanager.secretAccessor'),
        viewableSecretIds: secretsGranted(mocks, email, 'roles/secretmanager.viewer'),
        readableObjects: readableObjects(mocks, email),
      },
    });
  }
  const gcpProject = (mocks.byType(T.gcpSecret)[0]?.state?.project as string | undefined) ?? 'mock-project';
  const artifacts = await artifactObjects(mocks);
  const routeTables = readRouteTables(mocks, gateways);
  return {
    example,
    awsRegion: AWS_REGION,
    gcpProject,
    gateways,
    loadBalancers,
    routeTables,
    awsSecrets,
    gcpSecrets,
    artifacts,
  };
}

/** The route tables the graph's routes are in, each with its routes, in the graph's order. */
function readRouteTables(mocks: MockRecorder, gateways: LabGateway[]): LabRouteTable[] {
  const tables = new Map<string, LabRouteTable>();
  for (const route of mocks.byType(T.awsRoute)) {
    const id = route.inputs.routeTableId as string;
    const networkInterfaceId = route.inputs.networkInterfaceId as string;
    const destination = (route.inputs.destinationCidrBlock ?? route.inputs.destinationIpv6CidrBlock) as string;
    const site = gateways.find((g) => g.networkInterfaceId === networkInterfaceId)?.site;
    if (site === undefined) throw new Error(`lab: route ${route.name} targets no gateway's network interface`);
    const table = tables.get(id) ?? { id, site, routes: [] };
    table.routes.push({ destination, networkInterfaceId });
    tables.set(id, table);
  }
  return [...tables.values()];
}

/** The NLBs: their Elastic IPs (subnet mappings), listener port, the attached instances and their health check. */
function readLoadBalancers(mocks: MockRecorder): LabLoadBalancer[] {
  return mocks.byType(T.loadBalancer).map((lb) => {
    const mappings = lb.inputs.subnetMappings as Array<{ allocationId: string }>;
    const publicIps = mappings.map((m) => {
      const eip = mocks.byType(T.eip).find((e) => e.state!.allocationId === m.allocationId);
      if (!eip) throw new Error(`lab: load balancer ${lb.name} maps an unknown Elastic IP ${m.allocationId}`);
      return eip.state!.publicIp as string;
    });
    const listener = mocks.byType(T.listener).find((l) => l.inputs.loadBalancerArn === lb.state!.arn);
    const targetGroupArn = (listener?.inputs.defaultActions as Array<{ targetGroupArn?: string }>)?.[0]?.targetGroupArn;
    const targetGroup = mocks.byType(T.targetGroup).find((g) => g.state!.arn === targetGroupArn);
    const targets = mocks
      .byType(T.targetAttachment)
      .filter((a) => a.inputs.targetGroupArn === targetGroupArn)
      .flatMap((a) => mocks.byType(T.awsInstance).filter((i) => i.id === a.inputs.targetId))
      .map((i) => i.name);
    if (!listener || !targetGroup || targets.length === 0)
      throw new Error(`lab: load balancer ${lb.name} lacks its listener, target group or targets`);
    const check = targetGroup.inputs.healthCheck as Record<string, unknown>;
    return {
      site: (lb.inputs.tags as Record<string, string>)[AWS_TAG_SITE]!,
      dnsName: lb.state!.dnsName as string,
      publicIps,
      port: listener.inputs.port as number,
      targets,
      // ELBv2 defaults where the graph leaves a setting out (TargetGroup HealthCheck* in the API reference).
      healthCheck: {
        protocol: (check.protocol as LabHealthCheck['protocol'] | undefined) ?? 'TCP',
        port: Number(check.port ?? listener.inputs.port),
        ...(check.path !== undefined && { path: check.path as string }),
        ...(check.matcher !== undefined && { matcher: check.matcher as string }),
        intervalSeconds: (check.interval as number | undefined) ?? 30,
        timeoutSeconds: (check.timeout as number | undefined) ?? 10,
        healthyThreshold: (check.healthyThreshold as number | undefined) ?? 5,
        unhealthyThreshold: (check.unhealthyThreshold as number | undefined) ?? 2,
      },
    };
  });
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

/** The secrets on which the graph grants `role` to the service account `email` (secret-level IAM members). */
function secretsGranted(mocks: MockRecorder, email: string, role: string): string[] {
  return mocks
    .byType(T.gcpSecretIam)
    .filter((g) => g.inputs.role === role && unwrapSecrets(g.inputs.member) === `serviceAccount:${email}`)
    .map((g) => g.inputs.secretId as string);
}
