/**
 * `AwsGateway` (`wiremesh:aws:AwsGateway`): the WireGuard gateway of one site in a VPC: one EC2
 * instance in one subnet (or one created availability zone), running wiremesh-agent.
 *
 * One instance, because a WireGuard peer keeps one session and one endpoint per public key:
 * instances sharing the key would each handshake with every peer and displace each other's
 * sessions, and each subnet's routes would lead to a different one. Several instances are an
 * `AwsGatewayGroup` (aws/gateway-group.ts): one active key holder behind an NLB, a shared-key
 * document without peer endpoints, the agents failing over the routes. The group builds on an
 * AwsGateway given `targetGroup`, the one case with several subnets (checkOneKeyHolder refuses
 * the others, naming the field). The pieces live in their own modules:
 * - arguments and their checks: aws/gateway-args.ts (run once, before anything is registered);
 * - a VPC made here (`createNetwork` instead of `vpcId` and `subnets`): aws/network.ts;
 * - per instance the ENI, Elastic IP, instance and routes: aws/instances.ts;
 * - the security group (WireGuard from `peerCidrs`, health from `healthCheckCidrs`, default the
 *   VPC's CIDRs, forwarding from `forwardFromCidrs`): aws/security-group.ts;
 * - the IAM role reading exactly the key and config secrets: aws/role.ts;
 * - with `agent.artifact`, the agent tarball in the gateway's S3 bucket, readable by exactly its
 *   role: aws/artifact.ts;
 * - the agent document (../agent-config.ts), completed with the key secret (an `AwsKeySecret` made
 *   from `key`, from a new `WireGuardKey`, or given as `keySecret`) and the config secret (`-config`),
 *   which the agent polls for later versions.
 *
 * Security groups filter *forwarded* packets too: a packet from a local host to a remote site
 * enters the gateway's ENI and must pass its ingress rules. Traffic that remote sites start works
 * (replies are tracked), but local hosts can start connections to remote sites only from the
 * ranges in `forwardFromCidrs` (all protocols from those ranges, which also reaches the gateway
 * itself: the agent's metrics port is bound to loopback by default).
 *
 * Follow-ups not done here: a created VPC for AwsGatewayGroup.
 */
import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import type { AgentConfig, ConfigSourceConfig, FailoverConfig } from '../../agent/gateway/config-types';
import { AWS_TAG_ROLE, AWS_TAG_SITE } from '../../common/defaults';
import { agentParts, completeAgentConfig, gatewayUserData, type GatewayAgentConfig } from '../agent-config';
import { readAgentArtifact } from '../artifact';
import { agentConfigDocument } from '../bootstrap';
import { componentLabel } from '../errors';
import { gatewayKey, keySecretVersions } from '../gateway-key';
import { createAwsAgentArtifact, type AwsAgentArtifact } from './artifact';
import { checkOneKeyHolder, DEFAULT_INSTANCE_TYPE, validateAwsGatewayArgs, type AwsGatewayArgs } from './gateway-args';
import { arnParts, createFailoverPolicy, failoverSection, type AwsGroupFailoverArgs } from './failover';
import type { AwsGatewaySubnetArgs } from './gateway-args';
import { createGatewayInstances, createGatewayInterface, ubuntuAmi, type AwsGatewayInstance } from './instances';
import type { CheckedCidr } from './validation';
import { AwsKeySecret, awsSecretSource, checkedKmsKeyArn } from './key-secret';
import { gatewayVpc, type AwsGatewayNetwork } from './network';
import type { SecretReadGrant } from './policy';
import { checkedExtraSecretReads, createGatewayRole } from './role';
import { createGatewaySecurityGroup, gatewayIngress, vpcCidrBlocks } from './security-group';

/**
 * A site's WireGuard gateway: one instance, its key, its Elastic IP, the routes of its subnet's tables.
 *
 * ```ts
 * const gw = new AwsGateway("site-a", {
 *   siteName: "site-a", vpcId,
 *   subnets: [{ subnetId: pubA, routeTableIds: [rtA, rtPrivateA] }],
 *   remoteCidrs: ["10.20.0.0/16"], peerCidrs: ["203.0.113.7/32"],
 *   agent: { artifact: "wiremesh-0.1.0.tgz", config: { interface: { addresses: ["10.99.0.1/24"] }, peers: [...] } },
 * }, { provider: euWest1 });
 * ```
 */
export class AwsGateway extends pulumi.ComponentResource {
  /** The gateway's WireGuard public key (base64). */
  public readonly publicKey: pulumi.Output<string>;
  /** The Elastic IPs, one per instance (one; a group's gateway: one per subnet, in `subnets` order). */
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
  /** The resources per instance, for composition (a group's load balancer targets). */
  public readonly instances: AwsGatewayInstance[];
  public readonly keySecret: AwsKeySecret;
  public readonly securityGroup: aws.ec2.SecurityGroup;
  public readonly role: aws.iam.Role;
  /** The VPC the gateway runs in (`vpcId`, or the created VPC's id). */
  public readonly vpcId: pulumi.Output<string>;
  /** The created VPC and its parts; only with `createNetwork`. */
  public readonly network?: AwsGatewayNetwork;
  /** The agent artifact's bucket, object and read grant; only with `agent.artifact`. */
  public readonly agentArtifact?: AwsAgentArtifact;

  constructor(name: string, args: AwsGatewayArgs, opts: pulumi.ComponentResourceOptions = {}) {
    const label = componentLabel('AwsGateway', name);
    const checked = validateAwsGatewayArgs(label, args);
    checkOneKeyHolder(label, args, checked);
    const artifact =
      args.agent.artifact === undefined
        ? undefined
        : readAgentArtifact(
            label,
            'agent.artifact',
            args.agent.artifact,
            args.architecture === 'arm64' ? 'arm64' : 'x64',
          );
    super('wiremesh:aws:AwsGateway', name, {}, opts);
    const { listenPort, healthPort } = checked;
    this.listenPort = listenPort;
    this.healthPort = healthPort;
    const tags = { ...(args.tags ?? {}), [AWS_TAG_SITE]: args.siteName };
    const kmsKeyId = args.kmsKeyId === undefined ? undefined : checkedKmsKeyArn(label, 'kmsKeyId', args.kmsKeyId);
    const recoveryWindowInDays = args.secretRecoveryWindowInDays ?? 7;
    const storage = { kmsKeyId, recoveryWindowInDays };

    // The key: one per gateway (a group's, shared by its instances, is given as keySecret).
    const { keySecret, publicKey } = gatewayKeySecret(name, label, args, storage, this);
    this.keySecret = keySecret;
    this.publicKey = publicKey;

    // The VPC: the caller's, or one made here (then the same as if its subnets had been passed).
    const { vpcId, subnets, internetReady, created } = gatewayVpc(
      name,
      args.siteName,
      args,
      checked.network,
      tags,
      this,
    );
    this.network = created;
    this.vpcId = pulumi.output(vpcId);

    const healthChecks =
      args.healthCheckCidrs !== undefined
        ? pulumi.all(checked.healthCheckCidrs)
        : checked.network !== undefined
          ? pulumi.output([checked.network.cidr])
          : vpcCidrBlocks(vpcId, this);
    this.securityGroup = createGatewaySecurityGroup(
      name,
      args.siteName,
      vpcId,
      gatewayIngress(listenPort, healthPort, {
        peers: checked.peerCidrs,
        healthChecks,
        forwardFrom: checked.forwardFromCidrs,
      }),
      tags,
      this,
    );
    // The ENIs first: a failover group's document names them.
    const interfaces = subnets.map((subnet, i) =>
      createGatewayInterface(
        name,
        i,
        subnet,
        {
          siteName: args.siteName,
          tags,
          securityGroupId: this.securityGroup.id,
          eipDependsOn: created !== undefined ? [created.internetGateway] : [],
        },
        this,
      ),
    );
    const failover =
      args.failover === undefined
        ? undefined
        : groupFailoverSection(interfaces, subnets, checked.remoteCidrs, args.failover);

    // The agent configuration document, in its own secret.
    const { configSecret, configVersion, agentConfig } = createAgentDocument(
      name,
      label,
      args,
      { keySecret, kmsKeyId, recoveryWindowInDays, tags, listenPort, healthPort, failover },
      this,
    );

    const configGrant = pulumi.all([configSecret.arn, kmsKeyId]).apply(([secretArn, kmsKeyArn]): SecretReadGrant => ({
      label: 'ConfigSecret',
      secretArn,
      ...(kmsKeyArn !== undefined ? { kmsKeyArn } : {}),
    }));
    const role = createGatewayRole(
      name,
      args.siteName,
      [keySecret.readGrant('KeySecret'), configGrant, ...checkedExtraSecretReads(label, args.extraSecretReads)],
      args.permissionsBoundary,
      tags,
      this,
    );

    this.role = role.role;
    const failoverPolicy =
      args.failover === undefined
        ? []
        : [
            createFailoverPolicy(
              name,
              role.role,
              interfaces[0]!.networkInterface.arn,
              subnets.flatMap((subnet) => subnet.routeTableIds ?? []),
              this,
            ),
          ];

    // The agent they install: the artifact in the gateway's bucket, or the caller's package.
    this.agentArtifact = artifact && createAwsAgentArtifact(name, artifact, role.role, tags, this);
    // What the instances boot with: references only.
    const userData = gatewayUserData(args.agent, this.agentArtifact?.location ?? args.agent.package!, agentConfig);
    const ami = checked.ami ?? ubuntuAmi(args.architecture, this);
    this.instances = createGatewayInstances(
      name,
      subnets,
      interfaces,
      {
        siteName: args.siteName,
        tags,
        securityGroupId: this.securityGroup.id,
        ami,
        lookedUpAmi: args.ami === undefined,
        instanceType: args.instanceType ?? DEFAULT_INSTANCE_TYPE,
        instanceProfile: role.profile.name,
        userData,
        rootVolumeSizeGiB: args.rootVolumeSizeGiB,
        remoteCidrs: checked.remoteCidrs,
        eipDependsOn: created !== undefined ? [created.internetGateway] : [],
        instanceDependsOn: [
          role.readSecrets,
          role.ssm,
          ...failoverPolicy,
          configVersion,
          keySecret,
          ...internetReady,
          ...(this.agentArtifact ? [this.agentArtifact.object, this.agentArtifact.readPolicy] : []),
        ],
        routesMovedByAgent: args.failover !== undefined,
        targetGroup: args.targetGroup,
      },
      this,
    );

    this.publicIps = pulumi.all(this.instances.map((g) => g.eip.publicIp));
    this.endpoints = this.publicIps.apply((ips) => ips.map((ip) => `${ip}:${listenPort}`));
    this.instanceIds = pulumi.all(this.instances.map((g) => g.instance.id));
    this.networkInterfaceIds = pulumi.all(this.instances.map((g) => g.networkInterface.id));
    this.securityGroupId = this.securityGroup.id;
    this.roleArn = role.role.arn;
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

/** What the agent document of a gateway is completed with. */
interface AgentDocumentParts {
  keySecret: AwsKeySecret;
  kmsKeyId: pulumi.Output<string> | undefined;
  recoveryWindowInDays: number;
  tags: Record<string, pulumi.Input<string>>;
  listenPort: number;
  healthPort: number;
  /** A failover group's section of the document. */
  failover: pulumi.Output<FailoverConfig> | undefined;
}

/** The `failover` section of a group's document: every instance's ENI and private address, every route table. */
function groupFailoverSection(
  interfaces: Array<Pick<AwsGatewayInstance, 'networkInterface'>>,
  subnets: AwsGatewaySubnetArgs[],
  remoteCidrs: CheckedCidr[],
  settings: AwsGroupFailoverArgs,
): pulumi.Output<FailoverConfig> {
  const members = pulumi.all(
    interfaces.map(({ networkInterface }) =>
      pulumi.all([networkInterface.id, networkInterface.privateIp]).apply(([networkInterfaceId, address]) => ({
        networkInterfaceId,
        address,
      })),
    ),
  );
  return pulumi
    .all([interfaces[0]!.networkInterface.arn, members, pulumi.all(subnets.flatMap((s) => s.routeTableIds ?? []))])
    .apply(([arn, resolved, routeTableIds]) =>
      failoverSection(
        arnParts(arn).region,
        resolved,
        routeTableIds,
        remoteCidrs.map((cidr) => cidr.text),
        settings,
      ),
    );
}

/** The config secret (`-config`, which the agent polls) and the completed document in its version. */
function createAgentDocument(
  name: string,
  label: string,
  args: AwsGatewayArgs,
  parts: AgentDocumentParts,
  parent: pulumi.Resource,
): {
  configSecret: aws.secretsmanager.Secret;
  configVersion: aws.secretsmanager.SecretVersion;
  agentConfig: pulumi.Output<AgentConfig>;
} {
  const { keySecret, kmsKeyId, recoveryWindowInDays, tags, listenPort, healthPort, failover } = parts;
  const configSecret = new aws.secretsmanager.Secret(
    `${name}-config`,
    {
      description: `wiremesh-agent configuration of site ${args.siteName}`,
      kmsKeyId,
      recoveryWindowInDays,
      tags: { ...tags, [AWS_TAG_ROLE]: 'agent-config' },
    },
    { parent },
  );
  const pollSeconds = args.agent.configPollSeconds;
  const configSource = awsSecretSource(configSecret.arn).apply((source): ConfigSourceConfig => ({
    ...(source as ConfigSourceConfig),
    ...(pollSeconds !== undefined ? { pollSeconds } : {}),
  }));
  const agentConfig = pulumi
    .all([pulumi.output(args.agent.config), keySecret.keySources, configSource, failover])
    .apply(([config, keys, source, section]): AgentConfig =>
      completeAgentConfig(
        label,
        { ...(config as GatewayAgentConfig), ...(section && { failover: section }) },
        {
          ...agentParts(args.agent),
          ...keys,
          configSource: source,
          listenPort,
          healthPort,
        },
      ),
    );
  const configVersion = new aws.secretsmanager.SecretVersion(
    `${name}-config-version`,
    { secretId: configSecret.id, secretString: agentConfigDocument(agentConfig) },
    { parent },
  );
  return { configSecret, configVersion, agentConfig };
}

/** The caller's key secret, or a key made for the gateway (a caller's key or a new one) stored in Secrets Manager. */
function gatewayKeySecret(
  name: string,
  label: string,
  args: AwsGatewayArgs,
  storage: { kmsKeyId: pulumi.Input<string> | undefined; recoveryWindowInDays: number },
  parent: pulumi.Resource,
): { keySecret: AwsKeySecret; publicKey: pulumi.Output<string> } {
  if (args.keySecret !== undefined) {
    return { keySecret: args.keySecret.secret, publicKey: pulumi.output(args.keySecret.publicKey) };
  }
  const key = gatewayKey(name, label, args.key, args.maxKeyAgeDays, parent);
  const keySecret = new AwsKeySecret(
    `${name}-key`,
    { ...keySecretVersions(key), siteName: args.siteName, ...storage, tags: args.tags },
    { parent },
  );
  const publicKey = key.publicKey;
  return { keySecret, publicKey };
}
