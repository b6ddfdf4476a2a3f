/**
 * `AwsGateway` (`wiremesh:aws:AwsGateway`): the WireGuard gateway of one site in an existing VPC,
 * one EC2 instance per given subnet (normally one subnet per availability zone), all of them one
 * WireGuard peer (one key), running wiremesh-agent.
 *
 * Per subnet `i`:
 * - an ENI (`-eni-i`) with `sourceDestCheck: false` and the gateway's security group. The routes
 *   and the Elastic IP point at the ENI, not at the instance, so they survive the instance being
 *   replaced (the instance is `deleteBeforeReplace`: a primary ENI cannot be on two instances);
 * - an Elastic IP (`-eip-i`) on that ENI, there before the instance boots;
 * - the instance (`-instance-i`): IMDSv2 only (hop limit 1), encrypted gp3 root volume, the
 *   instance profile, `sourceDestCheck: false`, user data from `agentCloudInit` holding only
 *   secret *references* (ARNs), never key material;
 * - one `aws.ec2.Route` per remote CIDR per route table of that subnet (`-route-i-j-<cidr>`),
 *   targeting this subnet's ENI. VPC route tables have no ECMP (one target per destination), so
 *   each AZ's route tables point at that AZ's own gateway; a route table may be listed for one
 *   subnet only.
 *
 * Shared by the instances:
 * - the key: an `AwsKeySecret` (made here from `privateKey`, or from a new `WireGuardKey` when no
 *   key is given, or passed in as `keySecret`);
 * - the agent configuration document (`agentConfigDocument`) in a second Secrets Manager secret
 *   (`-config`), which the agent also polls for later versions (`configSource`);
 * - a security group: ingress UDP `listenPort` from `peerCidrs` and TCP `healthPort` from
 *   `healthCheckCidrs` (default: the VPC's IPv4 CIDRs, where load balancer health checks come from),
 *   nothing else unless `forwardFromCidrs` is given; no SSH (administration through SSM Session
 *   Manager); egress open (the gateway forwards arbitrary traffic into the VPC);
 * - an IAM role + instance profile: `AmazonSSMManagedInstanceCore` and an inline policy reading
 *   exactly the key secret and the config secret (with `kms:Decrypt` scoped by encryption context
 *   and `kms:ViaService` when a customer KMS key is used).
 *
 * Security groups filter *forwarded* packets too: a packet from a local host to a remote site
 * enters the gateway's ENI and must pass its ingress rules. With only the two rules above, traffic
 * that remote sites start works (replies are tracked), but local hosts cannot start connections
 * to remote sites. List the local ranges allowed to do that in `forwardFromCidrs` (all protocols
 * from those ranges, which also reaches the gateway itself: the agent's metrics port is bound to
 * loopback by default).
 *
 * A VPC the gateway creates (`network` instead of `vpcId` and `subnets`): an `aws.ec2.Vpc`
 * (`-vpc`, DNS support and hostnames on) with an internet gateway (`-igw`); per availability zone
 * `i` a public subnet (`-subnet-i`, no public IPs on launch: the gateways have Elastic IPs) carved
 * from `network.cidr` (see {@link carveSubnetCidrs}), a route table (`-rt-i`) with 0.0.0.0/0 to the
 * internet gateway (`-rt-i-default`) associated with that subnet (`-rta-i`). Then everything above,
 * as if those subnets and route tables had been passed (the remote-CIDR routes land in the created
 * route tables; the health port defaults to `network.cidr`).
 *
 * Follow-ups not done here: a created VPC for AwsGatewayGroup; static NLB addresses; multi-key
 * (per-instance) gateways.
 */
import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import type { AgentConfig, ConfigSourceConfig, KeySource } from '../../agent/gateway/config-types';
import type { SecretSourceConfig } from '../../agent/secrets/types';
import { agentCloudInit, agentConfigDocument, checkAgentPackage, type BootstrapConfig } from '../bootstrap';
import { publicKeyFromPrivateKey, WireGuardKey } from '../key';
import { AwsKeySecret, awsSecretSource, checkCallerTags, checkedKmsKeyArn, checkRecoveryWindow, requireSecretOutput } from './key-secret';
import { ec2AssumeRolePolicy, secretReadPolicy, type SecretReadGrant } from './policy';
import {
  checkCidr,
  checkNoOverlap,
  checkPort,
  isAnywhere,
  type CheckedCidr,
} from './validation';
import { checkedInput, ComponentArgumentError, componentLabel, describe } from '../errors';
import { AWS_TAG_ROLE, AWS_TAG_SITE, HEALTH_PORT, WIREGUARD_PORT } from '../../common/defaults';

export const DEFAULT_INSTANCE_TYPE = 't3.small';
/** Canonical's AWS account, the owner of the official Ubuntu AMIs. */
const CANONICAL_OWNER_ID = '099720109477';
/** AmazonSSMManagedInstanceCore, the managed policy SSM Session Manager needs (the ARN's partition is the role's). */
const SSM_CORE_POLICY = 'policy/AmazonSSMManagedInstanceCore';

/** One subnet the gateway runs an instance in, and the route tables that send remote traffic to it. */
export interface AwsGatewaySubnetArgs {
  /**
   * The subnet (normally one per availability zone). It must route 0.0.0.0/0 to an internet
   * gateway: the instance has an Elastic IP.
   */
  subnetId: pulumi.Input<string>;
  /**
   * Route tables (of the subnets in this subnet's AZ) that get one route per remote CIDR pointing
   * at this subnet's gateway. A route table may be listed for one subnet only (no ECMP).
   */
  routeTableIds?: pulumi.Input<string>[];
}

/** A VPC the gateway creates instead of using one it is given (see the file header). */
export interface AwsGatewayNetworkArgs {
  /** The VPC's IPv4 CIDR block, /16 to /28; the subnets are carved from it. */
  cidr: string;
  /** One public subnet (and one gateway instance) per availability zone, in this order; at least one. */
  availabilityZones: string[];
}

/**
 * The agent configuration the gateway completes: `privateKey` and `configSource` are filled in by
 * the gateway (its key secret and its config secret; if given they must be exactly those),
 * `interface.listenPort` and `health.listen` must agree with `listenPort` and `healthPort` (they
 * are filled in when absent).
 */
export interface AwsGatewayAgentConfig extends Omit<AgentConfig, 'privateKey' | 'configSource'> {
  privateKey?: KeySource;
  configSource?: ConfigSourceConfig;
}

/** Arguments of {@link AwsGateway}. */
export interface AwsGatewayArgs {
  /** The site's name: tags and descriptions. 1 to 32 lowercase letters, digits or hyphens. */
  siteName: string;
  /** The VPC the gateway runs in (bring your own VPC), with `subnets`. Excludes `network`. */
  vpcId?: pulumi.Input<string>;
  /** With `vpcId`: one gateway instance per entry; at least one. Use one subnet per AZ. */
  subnets?: AwsGatewaySubnetArgs[];
  /** A VPC the gateway creates, instead of `vpcId` and `subnets` (see the file header). */
  network?: AwsGatewayNetworkArgs;
  /** The remote sites' prefixes, routed to the gateway. No overlaps, no 0.0.0.0/0 or ::/0. */
  remoteCidrs: string[];
  /**
   * Source ranges allowed to reach the WireGuard UDP port: the remote gateways' public addresses.
   * 0.0.0.0/0 and ::/0 are refused unless `allowFromAnywhere` is set. Required unless
   * `allowFromAnywhere` is set.
   */
  peerCidrs?: pulumi.Input<string>[];
  /**
   * Allows 0.0.0.0/0 and ::/0 in `peerCidrs`; with no `peerCidrs`, opens the WireGuard port to
   * both. WireGuard answers nothing to unauthenticated packets, but this widens the attack surface
   * to the whole internet. Default false.
   */
  allowFromAnywhere?: boolean;
  /**
   * Source ranges allowed to reach the agent's TCP health port: where load balancer health checks
   * come from. Default: the VPC's IPv4 CIDR blocks (looked up with `aws.ec2.getVpc`; `network.cidr`
   * for a created VPC).
   */
  healthCheckCidrs?: pulumi.Input<string>[];
  /**
   * Local source ranges whose traffic the gateway forwards to the remote sites (security groups
   * filter forwarded packets too; see the file header). Default none.
   */
  forwardFromCidrs?: pulumi.Input<string>[];
  /** The private key, base64, as a secret Output. Excludes `keySecret`. Default: a new `WireGuardKey`. */
  privateKey?: pulumi.Input<string>;
  /** With `privateKey`: when it was created (ISO 8601), for the key-age tag. Required with `privateKey`. */
  keyCreatedAt?: pulumi.Input<string>;
  /** Maximum key age in days of the `WireGuardKey` made when no key is given. */
  keyMaxAgeDays?: number;
  /** An existing key secret shared with other gateways (e.g. by AwsGatewayGroup). Excludes `privateKey`; needs `publicKey`. */
  keySecret?: AwsKeySecret;
  /** With `keySecret`: the key's public key (an output only). */
  publicKey?: pulumi.Input<string>;
  /** The agent configuration (see {@link AwsGatewayAgentConfig}). */
  agentConfig: pulumi.Input<AwsGatewayAgentConfig>;
  /** What cloud-init installs: an npm package spec or tarball URL for wiremesh. */
  agentPackage: pulumi.Input<string>;
  /** The Node.js version cloud-init installs; default: `agentCloudInit`'s. */
  nodeVersion?: string;
  /** Default `t3.small`. */
  instanceType?: pulumi.Input<string>;
  /**
   * The AMI: a Debian 12+ or Ubuntu 22.04+ image (the bootstrap uses apt and systemd) with the SSM
   * agent, for administration without SSH. Default: the latest Canonical Ubuntu 24.04 LTS server
   * image for `architecture` (SSM agent and WireGuard kernel module included), looked up once;
   * later AMI releases are ignored (`ignoreChanges: ["ami"]`) so that a `pulumi up` never
   * replaces gateways by surprise. Pin an AMI for controlled upgrades.
   */
  ami?: pulumi.Input<string>;
  /** Architecture of the looked-up AMI; must match `instanceType`. Default `x86_64`. */
  architecture?: 'x86_64' | 'arm64';
  /** WireGuard UDP port, 1 to 65535; default 51820. */
  listenPort?: number;
  /** The agent's TCP health port (`/healthz`), 1 to 65535; default 9587. */
  healthPort?: number;
  /** Seconds between the agent's polls of the config secret; default: the agent's. */
  configPollSeconds?: number;
  /** Customer-managed KMS key ARN for the secrets made here (key and config). Default: aws/secretsmanager. */
  kmsKeyId?: pulumi.Input<string>;
  /** Recovery window of the secrets made here (0, or 7 to 30 days); default 7. */
  secretRecoveryWindowInDays?: number;
  /** Permissions boundary for the instance role. */
  permissionsBoundary?: pulumi.Input<string>;
  /** Root volume size in GiB; default: the AMI's. */
  rootVolumeSizeGiB?: number;
  /** Extra tags on every resource that takes tags. */
  tags?: Record<string, pulumi.Input<string>>;
  /**
   * Further secrets the agent reads (e.g. the preshared keys its configuration references),
   * added to the role's read policy as they are (`GetSecretValue` on exactly each ARN, and
   * `kms:Decrypt` for a customer key). Labels are letters and digits, other than `KeySecret` and
   * `ConfigSecret`, each used once. Default none.
   */
  extraSecretReads?: pulumi.Input<SecretReadGrant>[];
}

/** What a gateway created for `network`. */
export interface AwsGatewayNetwork {
  vpc: aws.ec2.Vpc;
  internetGateway: aws.ec2.InternetGateway;
  /** Per availability zone, in `network.availabilityZones` order. */
  subnets: aws.ec2.Subnet[];
  /** Per subnet: its route table (0.0.0.0/0 to the internet gateway, and the remote-CIDR routes). */
  routeTables: aws.ec2.RouteTable[];
  /** Per route table: the 0.0.0.0/0 route to the internet gateway. */
  defaultRoutes: aws.ec2.Route[];
  routeTableAssociations: aws.ec2.RouteTableAssociation[];
}

/** The instance, ENI and Elastic IP of one subnet. */
export interface AwsGatewayInstance {
  subnetIndex: number;
  networkInterface: aws.ec2.NetworkInterface;
  eip: aws.ec2.Eip;
  instance: aws.ec2.Instance;
  routes: aws.ec2.Route[];
}

/**
 * A site's WireGuard gateway: one instance per subnet, one key, routes per AZ.
 *
 * ```ts
 * const gw = new AwsGateway("site-a", {
 *   siteName: "site-a", vpcId, agentPackage: "wiremesh@0.1.0",
 *   subnets: [{ subnetId: pubA, routeTableIds: [rtA] }, { subnetId: pubB, routeTableIds: [rtB] }],
 *   remoteCidrs: ["10.20.0.0/16"], peerCidrs: ["203.0.113.7/32"],
 *   agentConfig: { interface: { name: "wg0", addresses: ["10.99.0.1/24"] }, peers: [...] },
 * }, { provider: euWest1 });
 * ```
 */
/**
 * The key a gateway (or a whole group) uses: the caller's, which must be a secret, or a fresh
 * WireGuardKey rotated after keyMaxAgeDays.
 */
export function gatewayKey(
  name: string,
  label: string,
  args: Pick<AwsGatewayArgs, 'privateKey' | 'keyCreatedAt' | 'keyMaxAgeDays'>,
  parent: pulumi.Resource,
): { privateKey: pulumi.Output<string>; createdAt: pulumi.Input<string>; publicKey: pulumi.Output<string> } {
  if (args.privateKey !== undefined) {
    const privateKey = requireSecretOutput(label, 'privateKey', args.privateKey);
    return { privateKey, createdAt: args.keyCreatedAt!, publicKey: pulumi.unsecret(privateKey.apply(publicKeyFromPrivateKey)) };
  }
  const key = new WireGuardKey(`${name}-key`, args.keyMaxAgeDays === undefined ? {} : { maxAgeDays: args.keyMaxAgeDays }, { parent });
  return { privateKey: key.privateKey, createdAt: key.createdAt, publicKey: key.publicKey };
}

export class AwsGateway extends pulumi.ComponentResource {
  /** The gateway's WireGuard public key (base64). */
  public readonly publicKey: pulumi.Output<string>;
  /** The Elastic IPs, one per subnet, in `subnets` order. */
  public readonly publicIps: pulumi.Output<string[]>;
  /** `publicIp:listenPort` per instance. */
  public readonly endpoints: pulumi.Output<string[]>;
  public readonly instanceIds: pulumi.Output<string[]>;
  /** The ENIs the routes point at, in `subnets` order. */
  public readonly networkInterfaceIds: pulumi.Output<string[]>;
  public readonly securityGroupId: pulumi.Output<string>;
  public readonly roleArn: pulumi.Output<string>;
  public readonly keySecretArn: pulumi.Output<string>;
  public readonly configSecretArn: pulumi.Output<string>;
  /** The WireGuard UDP port. */
  public readonly listenPort: number;
  /** The agent's TCP health port. */
  public readonly healthPort: number;
  /** The resources per subnet, for composition (e.g. load balancer targets). */
  public readonly instances: AwsGatewayInstance[];
  public readonly keySecret: AwsKeySecret;
  public readonly securityGroup: aws.ec2.SecurityGroup;
  public readonly role: aws.iam.Role;
  /** The VPC the gateway runs in (`vpcId`, or the created VPC's id). */
  public readonly vpcId: pulumi.Output<string>;
  /** The created VPC and its parts; only with `network`. */
  public readonly network?: AwsGatewayNetwork;

  constructor(name: string, args: AwsGatewayArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super('wiremesh:aws:AwsGateway', name, {}, opts);
    const label = componentLabel('AwsGateway', name);
    const checked = checkGatewayArgs(label, args);
    const { listenPort, healthPort } = checked;
    this.listenPort = listenPort;
    this.healthPort = healthPort;
    const tags = { ...(args.tags ?? {}), [AWS_TAG_SITE]: args.siteName };
    const kmsKeyId = args.kmsKeyId === undefined ? undefined : checkedKmsKeyArn(label, 'kmsKeyId', args.kmsKeyId);
    const recoveryWindowInDays = args.secretRecoveryWindowInDays ?? 7;

    // The key: one per gateway, shared by its instances.
    let keySecret: AwsKeySecret;
    let publicKey: pulumi.Output<string>;
    if (args.keySecret !== undefined) {
      keySecret = args.keySecret;
      publicKey = pulumi.output(args.publicKey!);
    } else {
      const key = gatewayKey(name, label, args, this);
      const { privateKey, createdAt } = key;
      publicKey = key.publicKey;
      keySecret = new AwsKeySecret(
        `${name}-key`,
        { privateKey, createdAt, siteName: args.siteName, kmsKeyId, recoveryWindowInDays, tags: args.tags },
        { parent: this },
      );
    }
    this.keySecret = keySecret;
    this.publicKey = publicKey;

    // The agent configuration document, in its own secret.
    const configSecret = new aws.secretsmanager.Secret(
      `${name}-config`,
      {
        description: `wiremesh-agent configuration of site ${args.siteName}`,
        kmsKeyId,
        recoveryWindowInDays,
        tags: { ...tags, [AWS_TAG_ROLE]: 'agent-config' },
      },
      { parent: this },
    );
    const keySource = keySecret.sourceConfig;
    const configSource = awsSecretSource(configSecret.arn).apply(
      (source): ConfigSourceConfig => ({ ...(source as ConfigSourceConfig), ...(args.configPollSeconds !== undefined ? { pollSeconds: args.configPollSeconds } : {}) }),
    );
    const agentConfig = pulumi
      .all([pulumi.output(args.agentConfig), keySource, configSource])
      .apply(([config, key, source]) => completeAgentConfig(label, config as AwsGatewayAgentConfig, { keySource: key, configSource: source, listenPort, healthPort }));
    const configVersion = new aws.secretsmanager.SecretVersion(
      `${name}-config-version`,
      { secretId: configSecret.id, secretString: agentConfigDocument(agentConfig) },
      { parent: this },
    );

    // IAM: SSM for administration, exactly the two secrets for the agent.
    const role = new aws.iam.Role(
      `${name}-role`,
      {
        description: `wiremesh gateway of site ${args.siteName}`,
        assumeRolePolicy: ec2AssumeRolePolicy(),
        permissionsBoundary: args.permissionsBoundary,
        tags,
      },
      { parent: this },
    );
    const readSecrets = new aws.iam.RolePolicy(
      `${name}-read-secrets`,
      {
        role: role.id,
        policy: secretReadPolicy([
          keySecret.readGrant('KeySecret'),
          pulumi.all([configSecret.arn, kmsKeyId]).apply(([secretArn, kmsKeyArn]): SecretReadGrant => ({
            label: 'ConfigSecret',
            secretArn,
            ...(kmsKeyArn !== undefined ? { kmsKeyArn } : {}),
          })),
          ...checkedExtraSecretReads(label, args.extraSecretReads),
        ]),
      },
      { parent: this },
    );
    const ssm = new aws.iam.RolePolicyAttachment(
      `${name}-ssm`,
      { role: role.name, policyArn: role.arn.apply((arn) => `arn:${arn.split(':')[1] ?? 'aws'}:iam::aws:${SSM_CORE_POLICY}`) },
      { parent: this },
    );
    const profile = new aws.iam.InstanceProfile(`${name}-profile`, { role: role.name, tags }, { parent: this });

    // The VPC: the caller's, or one made here (then the same as if its subnets had been passed).
    let vpcId: pulumi.Input<string>;
    let subnets: AwsGatewaySubnetArgs[];
    /** What the instances wait for in a created VPC: the internet route (the bootstrap downloads). */
    let internetReady: pulumi.Resource[] = [];
    if (checked.network !== undefined) {
      const created = createNetwork(name, args.siteName, checked.network, tags, this);
      this.network = created;
      vpcId = created.vpc.id;
      subnets = created.subnets.map((subnet, i) => ({ subnetId: subnet.id, routeTableIds: [created.routeTables[i]!.id] }));
      internetReady = [created.internetGateway, ...created.defaultRoutes, ...created.routeTableAssociations];
    } else {
      vpcId = args.vpcId!;
      subnets = args.subnets!;
    }
    this.vpcId = pulumi.output(vpcId);

    // Security group: the WireGuard port from the peers, the health port from the health checkers.
    const healthCheckCidrs =
      args.healthCheckCidrs !== undefined
        ? pulumi.all(checked.healthCheckCidrs)
        : checked.network !== undefined
          ? pulumi.output([checked.network.cidr])
          : aws.ec2
            .getVpcOutput({ id: vpcId }, { parent: this })
            .apply((vpc) => [...new Set([vpc.cidrBlock, ...(vpc.cidrBlockAssociations ?? []).map((a) => a.cidrBlock)])]);
    const ingress: aws.types.input.ec2.SecurityGroupIngress[] = [
      {
        description: 'WireGuard from the peers',
        protocol: 'udp',
        fromPort: listenPort,
        toPort: listenPort,
        ...familySplit(pulumi.all(checked.peerCidrs)),
      },
      {
        description: 'wiremesh-agent health checks',
        protocol: 'tcp',
        fromPort: healthPort,
        toPort: healthPort,
        ...familySplit(healthCheckCidrs),
      },
    ];
    if (checked.forwardFromCidrs.length > 0) {
      ingress.push({
        description: 'Local traffic forwarded to the remote sites',
        protocol: '-1',
        fromPort: 0,
        toPort: 0,
        ...familySplit(pulumi.all(checked.forwardFromCidrs)),
      });
    }
    const securityGroup = new aws.ec2.SecurityGroup(
      `${name}-sg`,
      {
        // A description change replaces the group: keep it free of the ports.
        description: `wiremesh gateway of site ${args.siteName}`,
        vpcId,
        ingress,
        egress: [{ description: 'Forwarded traffic and AWS APIs', protocol: '-1', fromPort: 0, toPort: 0, cidrBlocks: ['0.0.0.0/0'], ipv6CidrBlocks: ['::/0'] }],
        tags: { ...tags, [AWS_TAG_ROLE]: 'gateway' },
      },
      { parent: this },
    );
    this.securityGroup = securityGroup;
    this.role = role;

    // What the instances boot with: references only.
    const bootstrapConfig = pulumi.all([agentConfig, keySource, configSource]).apply(
      ([config, key, source]): BootstrapConfig => ({
        interfaceName: config.interface.name,
        privateKey: key,
        configSource: source,
        healthListen: config.health!.listen,
        ...(config.metrics?.listen !== undefined ? { metricsListen: config.metrics.listen } : {}),
        ...(config.dataPlane !== undefined ? { dataPlane: config.dataPlane } : {}),
      }),
    );
    const userData = agentCloudInit({
      agentPackage: args.agentPackage,
      ...(args.nodeVersion !== undefined ? { nodeVersion: args.nodeVersion } : {}),
      bootstrapConfig,
    });

    const lookedUpAmi = args.ami === undefined;
    const ami =
      args.ami !== undefined
        ? checked.ami!
        : aws.ec2
            .getAmiOutput(
              {
                mostRecent: true,
                owners: [CANONICAL_OWNER_ID],
                filters: [
                  { name: 'name', values: [`ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-${args.architecture === 'arm64' ? 'arm64' : 'amd64'}-server-*`] },
                  { name: 'architecture', values: [args.architecture ?? 'x86_64'] },
                  { name: 'state', values: ['available'] },
                ],
              },
              { parent: this },
            )
            .apply((image) => image.id);

    this.instances = subnets.map((subnet, i) => {
      const networkInterface = new aws.ec2.NetworkInterface(
        `${name}-eni-${i}`,
        {
          description: `wiremesh gateway ${i} of site ${args.siteName}`,
          subnetId: subnet.subnetId,
          securityGroups: [securityGroup.id],
          sourceDestCheck: false,
          tags: { ...tags, [AWS_TAG_ROLE]: 'gateway' },
        },
        { parent: this },
      );
      const eip = new aws.ec2.Eip(
        `${name}-eip-${i}`,
        { domain: 'vpc', networkInterface: networkInterface.id, tags: { ...tags, [AWS_TAG_ROLE]: 'gateway' } },
        // An Elastic IP needs the VPC's internet gateway attached.
        { parent: this, ...(this.network !== undefined ? { dependsOn: [this.network.internetGateway] } : {}) },
      );
      const instance = new aws.ec2.Instance(
        `${name}-instance-${i}`,
        {
          ami,
          instanceType: args.instanceType ?? DEFAULT_INSTANCE_TYPE,
          primaryNetworkInterface: { networkInterfaceId: networkInterface.id },
          sourceDestCheck: false,
          iamInstanceProfile: profile.name,
          userData,
          userDataReplaceOnChange: true,
          metadataOptions: { httpEndpoint: 'enabled', httpTokens: 'required', httpPutResponseHopLimit: 1, instanceMetadataTags: 'disabled' },
          rootBlockDevice: {
            encrypted: true,
            volumeType: 'gp3',
            ...(args.rootVolumeSizeGiB !== undefined ? { volumeSize: args.rootVolumeSizeGiB } : {}),
          },
          tags: { ...tags, [AWS_TAG_ROLE]: 'gateway', Name: `${args.siteName}-gateway-${i}` },
        },
        {
          parent: this,
          // The ENI (primary) can only be on one instance: replace by deleting first.
          deleteBeforeReplace: true,
          // Boot with the public address, the permissions and the configuration already in place.
          dependsOn: [eip, readSecrets, ssm, configVersion, keySecret, ...internetReady],
          ...(lookedUpAmi ? { ignoreChanges: ['ami'] } : {}),
        },
      );
      const routes: aws.ec2.Route[] = [];
      (subnet.routeTableIds ?? []).forEach((routeTableId, j) => {
        for (const cidr of checked.remoteCidrs) {
          routes.push(
            new aws.ec2.Route(
              `${name}-route-${i}-${j}-${cidrSlug(cidr.text)}`,
              {
                routeTableId,
                ...(cidr.prefix.family === 4 ? { destinationCidrBlock: cidr.text } : { destinationIpv6CidrBlock: cidr.text }),
                networkInterfaceId: networkInterface.id,
              },
              { parent: this },
            ),
          );
        }
      });
      return { subnetIndex: i, networkInterface, eip, instance, routes };
    });

    this.publicIps = pulumi.all(this.instances.map((g) => g.eip.publicIp));
    this.endpoints = this.publicIps.apply((ips) => ips.map((ip) => `${ip}:${listenPort}`));
    this.instanceIds = pulumi.all(this.instances.map((g) => g.instance.id));
    this.networkInterfaceIds = pulumi.all(this.instances.map((g) => g.networkInterface.id));
    this.securityGroupId = securityGroup.id;
    this.roleArn = role.arn;
    this.keySecretArn = keySecret.arn;
    this.configSecretArn = configSecret.arn;
    this.registerOutputs({
      publicKey: this.publicKey,
      publicIps: this.publicIps,
      endpoints: this.endpoints,
      instanceIds: this.instanceIds,
      networkInterfaceIds: this.networkInterfaceIds,
      securityGroupId: this.securityGroupId,
      roleArn: this.roleArn,
      keySecretArn: this.keySecretArn,
      configSecretArn: this.configSecretArn,
    });
  }
}

/** A checked `network`: the VPC's CIDR and, per availability zone, its subnet's CIDR. */
interface CheckedNetwork {
  cidr: string;
  availabilityZones: string[];
  subnetCidrs: string[];
}

/** The VPC, internet gateway, per-AZ public subnets and route tables of a gateway's own VPC. */
function createNetwork(name: string, siteName: string, network: CheckedNetwork, tags: Record<string, pulumi.Input<string>>, parent: pulumi.Resource): AwsGatewayNetwork {
  const vpc = new aws.ec2.Vpc(
    `${name}-vpc`,
    { cidrBlock: network.cidr, enableDnsSupport: true, enableDnsHostnames: true, tags: { ...tags, [AWS_TAG_ROLE]: 'gateway-vpc', Name: `${siteName}-wiremesh` } },
    { parent },
  );
  const internetGateway = new aws.ec2.InternetGateway(
    `${name}-igw`,
    { vpcId: vpc.id, tags: { ...tags, [AWS_TAG_ROLE]: 'gateway-vpc', Name: `${siteName}-wiremesh` } },
    { parent },
  );
  const subnets: aws.ec2.Subnet[] = [];
  const routeTables: aws.ec2.RouteTable[] = [];
  const defaultRoutes: aws.ec2.Route[] = [];
  const routeTableAssociations: aws.ec2.RouteTableAssociation[] = [];
  network.availabilityZones.forEach((availabilityZone, i) => {
    const subnet = new aws.ec2.Subnet(
      `${name}-subnet-${i}`,
      {
        vpcId: vpc.id,
        cidrBlock: network.subnetCidrs[i]!,
        availabilityZone,
        // The gateways have Elastic IPs; nothing else here should get a public address by default.
        mapPublicIpOnLaunch: false,
        tags: { ...tags, [AWS_TAG_ROLE]: 'gateway-subnet', Name: `${siteName}-wiremesh-${availabilityZone}` },
      },
      { parent },
    );
    const routeTable = new aws.ec2.RouteTable(
      `${name}-rt-${i}`,
      { vpcId: vpc.id, tags: { ...tags, [AWS_TAG_ROLE]: 'gateway-route-table', Name: `${siteName}-wiremesh-${availabilityZone}` } },
      { parent },
    );
    defaultRoutes.push(
      new aws.ec2.Route(`${name}-rt-${i}-default`, { routeTableId: routeTable.id, destinationCidrBlock: '0.0.0.0/0', gatewayId: internetGateway.id }, { parent }),
    );
    routeTableAssociations.push(new aws.ec2.RouteTableAssociation(`${name}-rta-${i}`, { subnetId: subnet.id, routeTableId: routeTable.id }, { parent }));
    subnets.push(subnet);
    routeTables.push(routeTable);
  });
  return { vpc, internetGateway, subnets, routeTables, defaultRoutes, routeTableAssociations };
}

/**
 * The subnet CIDRs of a created VPC, one per AZ, in order: consecutive /24s from the start of the
 * VPC's block, or, when the block is too small for that, equal consecutive blocks just big enough
 * for `count` of them (a /24 VPC with 2 AZs: two /25s). Undefined when they would be smaller than
 * /28 (AWS's smallest subnet). Exported for tests.
 */
export function carveSubnetCidrs(vpcCidr: string, count: number): string[] | undefined {
  const [base, bitsText] = vpcCidr.split('/') as [string, string];
  const bits = Number(bitsText);
  const subnetBits = Math.max(24, bits + Math.ceil(Math.log2(Math.max(count, 1))));
  if (subnetBits > 28) return undefined;
  const start = base.split('.').reduce((acc, octet) => acc * 256 + Number(octet), 0);
  const size = 2 ** (32 - subnetBits);
  return Array.from({ length: count }, (_, i) => {
    const address = start + i * size;
    return `${[24, 16, 8, 0].map((shift) => Math.floor(address / 2 ** shift) % 256).join('.')}/${subnetBits}`;
  });
}

/** Checks `network` (a VPC to create). */
function checkNetworkArgs(label: string, network: AwsGatewayNetworkArgs): CheckedNetwork {
  if (typeof network !== 'object' || network === null) {
    throw new ComponentArgumentError(`${label}: network must be an object { cidr, availabilityZones }`);
  }
  const cidr = checkCidr(label, 'network.cidr', network.cidr);
  if (cidr.prefix.family !== 4 || cidr.prefix.bits < 16 || cidr.prefix.bits > 28) {
    throw new ComponentArgumentError(`${label}: network.cidr must be an IPv4 block from /16 to /28 (a VPC's size), got ${describe(network.cidr)}`);
  }
  const zones = network.availabilityZones;
  if (!Array.isArray(zones) || zones.length === 0) {
    throw new ComponentArgumentError(`${label}: network.availabilityZones must list at least one availability zone (one subnet and gateway instance in each)`);
  }
  zones.forEach((zone, i) => {
    if (typeof zone !== 'string' || !/^[a-z]{2}(-[a-z0-9]+)+[a-z]$/.test(zone)) {
      throw new ComponentArgumentError(`${label}: network.availabilityZones[${i}] must be an availability zone name (e.g. eu-west-1a), got ${describe(zone)}`);
    }
    const first = zones.indexOf(zone);
    if (first !== i) throw new ComponentArgumentError(`${label}: network.availabilityZones[${i}] repeats network.availabilityZones[${first}] (${zone})`);
  });
  const subnetCidrs = carveSubnetCidrs(cidr.text, zones.length);
  if (subnetCidrs === undefined) {
    throw new ComponentArgumentError(`${label}: network.cidr ${cidr.text} is too small for ${zones.length} subnets of at least /28; use a larger block`);
  }
  return { cidr: cidr.text, availabilityZones: [...zones], subnetCidrs };
}

/** The arguments after the checks that can run while the program runs. */
interface CheckedGatewayArgs {
  /** With `network`: the VPC to create. */
  network?: CheckedNetwork;
  listenPort: number;
  healthPort: number;
  remoteCidrs: CheckedCidr[];
  peerCidrs: pulumi.Input<string>[];
  healthCheckCidrs: pulumi.Input<string>[];
  forwardFromCidrs: pulumi.Input<string>[];
  ami?: pulumi.Input<string>;
}

const SITE_NAME = /^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$/;

/** Every check of {@link AwsGatewayArgs} that needs no cloud; throws ComponentArgumentError. Exported for AwsGatewayGroup. */
export function checkGatewayArgs(label: string, args: AwsGatewayArgs): CheckedGatewayArgs {
  if (typeof args !== 'object' || args === null) throw new ComponentArgumentError(`${label}: args are required`);
  if (typeof args.siteName !== 'string' || !SITE_NAME.test(args.siteName)) {
    throw new ComponentArgumentError(`${label}: siteName must be 1 to 32 lowercase letters, digits or hyphens (not at either end), got ${describe(args.siteName)}`);
  }
  // The VPC: exactly one of vpcId + subnets (bring your own) and network (created here).
  const given = (value: unknown): boolean => value !== undefined && value !== null;
  let network: CheckedNetwork | undefined;
  if (given(args.network)) {
    if (given(args.vpcId) || given(args.subnets)) {
      throw new ComponentArgumentError(
        `${label}: give either vpcId and subnets (bring your own VPC) or network (a VPC the gateway creates), not both`,
      );
    }
    network = checkNetworkArgs(label, args.network!);
  } else if (!given(args.vpcId) && !given(args.subnets)) {
    throw new ComponentArgumentError(
      `${label}: give vpcId and subnets (bring your own VPC) or network: { cidr, availabilityZones } (a VPC the gateway creates)`,
    );
  }
  if (network === undefined) checkSubnetArgs(label, args);

  if (!Array.isArray(args.remoteCidrs) || args.remoteCidrs.length === 0) {
    throw new ComponentArgumentError(`${label}: remoteCidrs must list at least one remote prefix`);
  }
  const remoteCidrs = args.remoteCidrs.map((cidr, i) => {
    const checked = checkCidr(label, `remoteCidrs[${i}]`, cidr);
    if (isAnywhere(checked)) {
      throw new ComponentArgumentError(`${label}: remoteCidrs[${i}] ${checked.text} would route all traffic through the tunnel; list the remote prefixes instead`);
    }
    return checked;
  });
  checkNoOverlap(label, 'remoteCidrs', remoteCidrs);

  const listenPort = checkPort(label, 'listenPort', args.listenPort ?? WIREGUARD_PORT);
  const healthPort = checkPort(label, 'healthPort', args.healthPort ?? HEALTH_PORT);
  if (args.configPollSeconds !== undefined && (!Number.isInteger(args.configPollSeconds) || args.configPollSeconds < 1)) {
    throw new ComponentArgumentError(`${label}: configPollSeconds must be a whole number of seconds of at least 1, got ${describe(args.configPollSeconds)}`);
  }
  if (args.rootVolumeSizeGiB !== undefined && (!Number.isInteger(args.rootVolumeSizeGiB) || args.rootVolumeSizeGiB < 1 || args.rootVolumeSizeGiB > 16384)) {
    throw new ComponentArgumentError(`${label}: rootVolumeSizeGiB must be a whole number from 1 to 16384, got ${describe(args.rootVolumeSizeGiB)}`);
  }
  if (args.architecture !== undefined && args.architecture !== 'x86_64' && args.architecture !== 'arm64') {
    throw new ComponentArgumentError(`${label}: architecture must be "x86_64" or "arm64", got ${describe(args.architecture)}`);
  }
  checkRecoveryWindow(label, args.secretRecoveryWindowInDays ?? 7);
  checkCallerTags(label, args.tags);
  if (typeof args.instanceType === 'string' && !/^[a-z][a-z0-9-]*\.[a-z0-9]+$/.test(args.instanceType)) {
    throw new ComponentArgumentError(`${label}: instanceType ${describe(args.instanceType)} is not an EC2 instance type (e.g. t3.small)`);
  }
  const ami = args.ami === undefined ? undefined : checkedInput(args.ami, (value) => {
    if (typeof value !== 'string' || !/^ami-[0-9a-f]{8,17}$/.test(value)) throw new ComponentArgumentError(`${label}: ami must be an AMI id (ami-...), got ${describe(value)}`);
  });
  if (args.agentPackage === undefined || args.agentPackage === null || args.agentPackage === '') {
    throw new ComponentArgumentError(`${label}: agentPackage is required (the wiremesh package cloud-init installs)`);
  }
  // agentCloudInit checks these too, but only after the secrets and the role exist: check first.
  if (typeof args.agentPackage === 'string') {
    try {
      checkAgentPackage(args.agentPackage);
    } catch (error) {
      throw new ComponentArgumentError(`${label}: ${(error as Error).message}`);
    }
  }
  if (args.nodeVersion !== undefined && (typeof args.nodeVersion !== 'string' || !/^\d+$/.test(args.nodeVersion) || Number(args.nodeVersion) < 24)) {
    throw new ComponentArgumentError(`${label}: nodeVersion must be a Node.js major version of 24 or later, e.g. "24", got ${describe(args.nodeVersion)}`);
  }
  if (args.agentConfig === undefined || args.agentConfig === null) throw new ComponentArgumentError(`${label}: agentConfig is required`);

  // The key: exactly one way.
  if (args.keySecret !== undefined && args.privateKey !== undefined) {
    throw new ComponentArgumentError(`${label}: give privateKey or keySecret, not both`);
  }
  if (args.keySecret !== undefined && !(args.keySecret instanceof AwsKeySecret)) {
    throw new ComponentArgumentError(`${label}: keySecret must be an AwsKeySecret`);
  }
  if (args.keySecret !== undefined && (args.publicKey === undefined || args.publicKey === '')) {
    throw new ComponentArgumentError(`${label}: keySecret needs publicKey (the public key of the key it holds)`);
  }
  if (args.privateKey !== undefined) {
    requirePlainSecretShape(label, args.privateKey);
    if (args.keyCreatedAt === undefined || args.keyCreatedAt === '') {
      throw new ComponentArgumentError(`${label}: privateKey needs keyCreatedAt (when the key was created, ISO 8601) for the key-age tag`);
    }
  }
  if (args.keyMaxAgeDays !== undefined && (args.privateKey !== undefined || args.keySecret !== undefined)) {
    throw new ComponentArgumentError(`${label}: keyMaxAgeDays applies only to the key the gateway generates (no privateKey, no keySecret)`);
  }

  // Who may talk to the gateway.
  const allowFromAnywhere = args.allowFromAnywhere === true;
  if (args.allowFromAnywhere !== undefined && typeof args.allowFromAnywhere !== 'boolean') {
    throw new ComponentArgumentError(`${label}: allowFromAnywhere must be a boolean`);
  }
  let peerCidrs: pulumi.Input<string>[];
  if (args.peerCidrs === undefined || (Array.isArray(args.peerCidrs) && args.peerCidrs.length === 0)) {
    if (!allowFromAnywhere) {
      throw new ComponentArgumentError(
        `${label}: peerCidrs must list the ranges allowed to reach WireGuard (the remote gateways' public addresses), or set allowFromAnywhere: true`,
      );
    }
    peerCidrs = ['0.0.0.0/0', '::/0'];
  } else {
    peerCidrs = checkedCidrList(label, 'peerCidrs', args.peerCidrs, { anywhere: allowFromAnywhere ? 'allowed' : 'needs-allowFromAnywhere' });
  }
  const healthCheckCidrs = args.healthCheckCidrs === undefined ? [] : checkedCidrList(label, 'healthCheckCidrs', args.healthCheckCidrs, { anywhere: 'refused' });
  if (args.healthCheckCidrs !== undefined && healthCheckCidrs.length === 0) {
    throw new ComponentArgumentError(`${label}: healthCheckCidrs must not be empty (leave it out for the VPC's CIDR blocks)`);
  }
  const forwardFromCidrs = args.forwardFromCidrs === undefined ? [] : checkedCidrList(label, 'forwardFromCidrs', args.forwardFromCidrs, { anywhere: 'refused' });
  return {
    listenPort,
    healthPort,
    remoteCidrs,
    peerCidrs,
    healthCheckCidrs,
    forwardFromCidrs,
    ...(ami !== undefined ? { ami } : {}),
    ...(network !== undefined ? { network } : {}),
  };
}

/** Checks `vpcId` and `subnets` (bring your own VPC). */
function checkSubnetArgs(label: string, args: AwsGatewayArgs): void {
  if (args.vpcId === undefined || args.vpcId === null || args.vpcId === '') {
    throw new ComponentArgumentError(`${label}: vpcId is required with subnets (or give network instead of both, for a VPC the gateway creates)`);
  }
  if (!Array.isArray(args.subnets) || args.subnets.length === 0) {
    throw new ComponentArgumentError(`${label}: subnets must list at least one subnet (one gateway instance runs in each)`);
  }
  const subnetIds = new Map<string, number>();
  const routeTables = new Map<string, number>();
  args.subnets.forEach((subnet, i) => {
    if (typeof subnet !== 'object' || subnet === null || subnet.subnetId === undefined || subnet.subnetId === '') {
      throw new ComponentArgumentError(`${label}: subnets[${i}].subnetId is required`);
    }
    if (typeof subnet.subnetId === 'string') {
      const first = subnetIds.get(subnet.subnetId);
      if (first !== undefined) throw new ComponentArgumentError(`${label}: subnets[${i}] repeats subnets[${first}] (${subnet.subnetId})`);
      subnetIds.set(subnet.subnetId, i);
    }
    if (subnet.routeTableIds !== undefined && !Array.isArray(subnet.routeTableIds)) {
      throw new ComponentArgumentError(`${label}: subnets[${i}].routeTableIds must be an array`);
    }
    for (const [j, routeTableId] of (subnet.routeTableIds ?? []).entries()) {
      if (typeof routeTableId !== 'string') continue;
      if (subnet.routeTableIds!.indexOf(routeTableId) !== j) {
        throw new ComponentArgumentError(`${label}: subnets[${i}].routeTableIds repeats ${routeTableId}`);
      }
      const first = routeTables.get(routeTableId);
      if (first !== undefined) {
        throw new ComponentArgumentError(
          `${label}: route table ${routeTableId} is listed for subnets[${first}] and subnets[${i}]; ` +
            'VPC route tables have no ECMP (one target per destination), so each route table points at one gateway',
        );
      }
      routeTables.set(routeTableId, i);
    }
  });
}

/** A plain (non-Output) private key is refused at once, before any resource is made. */
function requirePlainSecretShape(label: string, value: unknown): void {
  if (!pulumi.Output.isInstance(value)) {
    throw new ComponentArgumentError(
      `${label}: privateKey must be a secret Output (WireGuardKey.privateKey or pulumi.secret(...)), not a plain ${typeof value}: ` +
        'a plain value is stored unencrypted in the stack state',
    );
  }
}

/**
 * A list of security group source ranges: plain entries checked now, late ones when they resolve;
 * exact repeats refused (AWS rejects a duplicate range in one rule).
 */
function checkedCidrList(
  label: string,
  what: string,
  values: pulumi.Input<string>[],
  options: { anywhere: 'allowed' | 'refused' | 'needs-allowFromAnywhere' },
): pulumi.Input<string>[] {
  if (!Array.isArray(values)) throw new ComponentArgumentError(`${label}: ${what} must be an array of CIDR blocks`);
  const check = (value: unknown, i: number): CheckedCidr => {
    const cidr = checkCidr(label, `${what}[${i}]`, value);
    if (isAnywhere(cidr) && options.anywhere !== 'allowed') {
      throw new ComponentArgumentError(
        options.anywhere === 'needs-allowFromAnywhere'
          ? `${label}: ${what}[${i}] ${cidr.text} opens the WireGuard port to the whole internet; set allowFromAnywhere: true to mean it`
          : `${label}: ${what}[${i}] ${cidr.text} is not allowed here; list the actual source ranges`,
      );
    }
    return cidr;
  };
  const seen = new Map<string, number>();
  return values.map((value, i) => {
    if (typeof value === 'string') {
      const cidr = check(value, i);
      const first = seen.get(cidr.text);
      if (first !== undefined) throw new ComponentArgumentError(`${label}: ${what}[${i}] repeats ${what}[${first}] (${cidr.text})`);
      seen.set(cidr.text, i);
      return cidr.text;
    }
    return checkedInput(value, (resolved) => {
      check(resolved, i);
    });
  });
}

/** Splits source ranges into the IPv4 and IPv6 lists of a security group rule. */
function familySplit(cidrs: pulumi.Output<string[]>): { cidrBlocks: pulumi.Output<string[]>; ipv6CidrBlocks: pulumi.Output<string[]> } {
  return {
    cidrBlocks: cidrs.apply((list) => list.filter((cidr) => !cidr.includes(':'))),
    ipv6CidrBlocks: cidrs.apply((list) => list.filter((cidr) => cidr.includes(':'))),
  };
}

/** `extraSecretReads` with their labels checked (when they resolve): letters and digits, unique, not the gateway's own. */
function checkedExtraSecretReads(label: string, grants: pulumi.Input<SecretReadGrant>[] | undefined): pulumi.Output<SecretReadGrant>[] {
  if (grants === undefined) return [];
  if (!Array.isArray(grants)) throw new ComponentArgumentError(`${label}: extraSecretReads must be an array`);
  const all = pulumi.all(grants).apply((resolved) => {
    const seen = new Set(['KeySecret', 'ConfigSecret']);
    for (const grant of resolved) {
      if (typeof grant !== 'object' || grant === null || typeof grant.secretArn !== 'string') {
        throw new ComponentArgumentError(`${label}: extraSecretReads entries need a label and a secretArn`);
      }
      if (typeof grant.label !== 'string' || !/^[A-Za-z0-9]+$/.test(grant.label) || seen.has(grant.label)) {
        throw new ComponentArgumentError(`${label}: extraSecretReads label ${describe(grant.label)} must be letters and digits, unique, and not KeySecret or ConfigSecret`);
      }
      seen.add(grant.label);
    }
    return resolved;
  });
  return grants.map((_, i) => all.apply((resolved) => resolved[i]! as SecretReadGrant));
}

/** `10.1.0.0/16` -> `10-1-0-0-16`, `fd00::/8` -> `fd00--8`: stable route resource names. */
export function cidrSlug(cidr: string): string {
  return cidr.replace(/[./:]/g, '-');
}

/** The bits of the document the gateway owns; see {@link completeAgentConfig}. */
export interface GatewayAgentConfigParts {
  keySource: SecretSourceConfig;
  configSource: ConfigSourceConfig;
  listenPort: number;
  healthPort: number;
}

/**
 * The agent configuration document of a gateway: `config` with the gateway's key secret as
 * `privateKey`, its config secret as `configSource`, `interface.listenPort` = `listenPort` and
 * `health.listen` = `0.0.0.0:healthPort` (the load balancer checks it from the VPC). Throws when
 * `config` disagrees with any of them, or when it carries key material (`inline` keys).
 */
export function completeAgentConfig(label: string, config: AwsGatewayAgentConfig, parts: GatewayAgentConfigParts): AgentConfig {
  if (typeof config !== 'object' || config === null || typeof config.interface !== 'object' || config.interface === null) {
    throw new ComponentArgumentError(`${label}: agentConfig.interface is required`);
  }
  if (config.privateKey !== undefined && !sameJson(config.privateKey, parts.keySource)) {
    throw new ComponentArgumentError(`${label}: agentConfig.privateKey must be left out: the gateway points the agent at its key secret`);
  }
  if (config.configSource !== undefined && !sameJson(config.configSource, parts.configSource)) {
    throw new ComponentArgumentError(`${label}: agentConfig.configSource must be left out: the gateway points the agent at its config secret`);
  }
  if (config.interface.listenPort !== undefined && config.interface.listenPort !== parts.listenPort) {
    throw new ComponentArgumentError(
      `${label}: agentConfig.interface.listenPort is ${describe(config.interface.listenPort)} but the gateway's listenPort is ${parts.listenPort}`,
    );
  }
  const healthListen = `0.0.0.0:${parts.healthPort}`;
  if (config.health?.listen !== undefined && config.health.listen !== healthListen && config.health.listen !== `[::]:${parts.healthPort}`) {
    throw new ComponentArgumentError(
      `${label}: agentConfig.health.listen is ${describe(config.health.listen)}; the load balancer's health checks need ${healthListen} (healthPort)`,
    );
  }
  if (config.nextPrivateKey !== undefined && config.nextPrivateKey.source === 'inline') {
    throw new ComponentArgumentError(`${label}: agentConfig.nextPrivateKey is an inline key; key material may not go into the configuration document`);
  }
  (config.peers ?? []).forEach((peer, i) => {
    if (peer.presharedKey !== undefined && peer.presharedKey.source === 'inline') {
      throw new ComponentArgumentError(`${label}: agentConfig.peers[${i}].presharedKey is an inline key; key material may not go into the configuration document`);
    }
  });
  return {
    ...config,
    interface: { ...config.interface, listenPort: parts.listenPort },
    privateKey: parts.keySource,
    configSource: parts.configSource,
    health: { ...(config.health ?? {}), listen: config.health?.listen ?? healthListen },
  };
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(sortKeys(a)) === JSON.stringify(sortKeys(b));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.keys(value).sort().map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]));
  }
  return value;
}
