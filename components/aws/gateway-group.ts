/**
 * `AwsGatewayGroup` (`wiremesh:aws:AwsGatewayGroup`): the load-balanced, highly available entry
 * point of a site. One {@link AwsGateway} (one instance per subnet/AZ) behind an internet-facing
 * Network Load Balancer:
 *
 * - **One key for the whole group**: one `WireGuardKey` (unless `key` is given) and one
 *   `AwsKeySecret`, handed to the gateway. Peers pin one public key for the endpoint, and the NLB
 *   may send a peer's flow to any target, so every target must be the same WireGuard peer.
 * - A **UDP listener** on `listenPort` forwarding to a **UDP target group** (target type
 *   `instance`) with every gateway instance attached on `listenPort`. Client IP preservation is
 *   always on for UDP, so the gateways' security group still sees (and filters on) the peers'
 *   addresses.
 * - **Health checks over TCP on the agent's health port** (NLB health checks cannot use UDP);
 *   `healthCheckProtocol: "HTTP"` checks `GET /healthz` (200 when the agent reports healthy)
 *   instead. The health port is open to the VPC's CIDR blocks, where the NLB nodes are.
 * - **Cross-zone load balancing on** by default: a WireGuard peer resolves the endpoint's DNS name
 *   once and keeps that one NLB address, so the NLB node behind it must be able to reach a healthy
 *   gateway in any AZ (with cross-zone off, a dead gateway in that AZ would strand the peer until
 *   it re-resolves). Cross-AZ traffic is billed.
 * - `connectionTermination` on deregistration, so flows move to another target instead of staying
 *   pinned to a gateway being replaced (WireGuard keepalives would keep such a flow alive forever).
 *
 * Caveats: a gateway that starts a handshake itself sends from its own Elastic IP, not from the
 * NLB, and WireGuard peers roam to the address they last heard from; failover between targets
 * drops the session until the next handshake (no shared session state). The NLB's address is not
 * static (use the DNS name; static NLB addresses through subnet mappings are a follow-up).
 */
import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import { ComponentArgumentError, componentLabel, describe } from '../errors';
import { gatewayKey } from '../gateway-key';
import { validatedOnce } from '../validate-once';
import { AwsGateway } from './gateway';
import { validateAwsGatewayArgs, type AwsGatewayArgs, type ValidatedAwsGatewayArgs } from './gateway-args';
import { AwsKeySecret, checkedKmsKeyArn } from './key-secret';
import { AWS_TAG_ROLE, AWS_TAG_SITE } from '../../common/defaults';

/** Arguments of {@link AwsGatewayGroup}: those of {@link AwsGateway} (the key is the group's) and the load balancer's. */
export interface AwsGatewayGroupArgs extends Omit<AwsGatewayArgs, 'keySecret' | 'vpcId' | 'subnets' | 'createNetwork'> {
  /** The VPC the gateways run in (bring your own VPC; a group does not create one yet). */
  vpcId: pulumi.Input<string>;
  /** One gateway instance per entry; at least one. Use one subnet per AZ. */
  subnets: NonNullable<AwsGatewayArgs['subnets']>;
  /**
   * Subnets of the load balancer, one per AZ (public subnets). Default: the gateways' subnets, which
   * must then be in distinct AZs (an NLB takes one subnet per AZ).
   */
  loadBalancerSubnetIds?: pulumi.Input<string>[];
  /** Cross-zone load balancing; default true (see the file header). */
  crossZoneLoadBalancing?: boolean;
  /** `TCP` (default): the health port accepts connections. `HTTP`: `GET /healthz` answers 200. */
  healthCheckProtocol?: 'TCP' | 'HTTP';
  /** Seconds between health checks, 5 to 300; default 10. */
  healthCheckIntervalSeconds?: number;
  /** Seconds a deregistered gateway keeps its flows, 0 to 3600; default 30. */
  deregistrationDelaySeconds?: number;
  /** Deletion protection on the load balancer; default false. */
  deletionProtection?: boolean;
}

/**
 * A site's HA WireGuard entry point: gateways in several AZs behind one NLB, one shared key.
 *
 * ```ts
 * const group = new AwsGatewayGroup("site-a", { siteName: "site-a", vpcId, subnets, ... });
 * group.endpoint   // "site-a-nlb-1234.elb.eu-west-1.amazonaws.com:51820": the peers' endpoint
 * group.publicKey  // the peers' publicKey for this site
 * ```
 */
export class AwsGatewayGroup extends pulumi.ComponentResource {
  /** The NLB's DNS name. */
  public readonly dnsName: pulumi.Output<string>;
  /** `dnsName:listenPort`: the endpoint remote peers use. */
  public readonly endpoint: pulumi.Output<string>;
  /** The group's WireGuard public key (base64). */
  public readonly publicKey: pulumi.Output<string>;
  public readonly loadBalancerArn: pulumi.Output<string>;
  public readonly targetGroupArn: pulumi.Output<string>;
  /** The gateway instances' ids (the NLB's targets). */
  public readonly instanceIds: pulumi.Output<string[]>;
  public readonly gateway: AwsGateway;
  public readonly keySecret: AwsKeySecret;
  public readonly loadBalancer: aws.lb.LoadBalancer;
  public readonly targetGroup: aws.lb.TargetGroup;
  public readonly listener: aws.lb.Listener;

  constructor(name: string, args: AwsGatewayGroupArgs, opts: pulumi.ComponentResourceOptions = {}) {
    const label = componentLabel('AwsGatewayGroup', name);
    const checked = validateAwsGatewayGroupArgs(label, args);
    super('wiremesh:aws:AwsGatewayGroup', name, {}, opts);
    const { listenPort, healthPort } = checked.gateway;
    const tags = { ...(args.tags ?? {}), [AWS_TAG_SITE]: args.siteName };

    // ONE key for every gateway of the group.
    const { privateKey, createdAt, publicKey } = gatewayKey(name, label, args.key, args.maxKeyAgeDays, this);
    const keySecret = new AwsKeySecret(
      `${name}-key`,
      {
        privateKey,
        createdAt,
        siteName: args.siteName,
        ...(args.kmsKeyId !== undefined ? { kmsKeyId: checkedKmsKeyArn(label, 'kmsKeyId', args.kmsKeyId) } : {}),
        ...(args.secretRecoveryWindowInDays !== undefined ? { recoveryWindowInDays: args.secretRecoveryWindowInDays } : {}),
        ...(args.tags !== undefined ? { tags: args.tags } : {}),
      },
      { parent: this },
    );

    const {
      loadBalancerSubnetIds: _lbSubnets,
      crossZoneLoadBalancing: _crossZone,
      healthCheckProtocol: _protocol,
      healthCheckIntervalSeconds: _interval,
      deregistrationDelaySeconds: _delay,
      deletionProtection: _protection,
      key: _key,
      maxKeyAgeDays: _maxAge,
      ...gatewayArgs
    } = args;
    // The group checked these arguments under its own name: the gateway does not check them again.
    const gateway = new AwsGateway(`${name}-gateway`, validateAwsGatewayArgs.seed({ ...gatewayArgs, keySecret: { secret: keySecret, publicKey } }, checked.gateway), { parent: this });

    const { loadBalancer, targetGroup, listener } = createNetworkLoadBalancer(
      name,
      { ...checked, listenPort, healthPort, vpcId: args.vpcId, deletionProtection: args.deletionProtection ?? false, tags },
      gateway.instances.map((member) => member.instance.id),
      this,
    );

    this.gateway = gateway;
    this.keySecret = keySecret;
    this.loadBalancer = loadBalancer;
    this.targetGroup = targetGroup;
    this.listener = listener;
    this.dnsName = loadBalancer.dnsName;
    this.endpoint = pulumi.interpolate`${loadBalancer.dnsName}:${listenPort}`;
    this.publicKey = publicKey;
    this.loadBalancerArn = loadBalancer.arn;
    this.targetGroupArn = targetGroup.arn;
    this.instanceIds = gateway.instanceIds;
    this.registerOutputs({
      dnsName: this.dnsName,
      endpoint: this.endpoint,
      publicKey: this.publicKey,
      loadBalancerArn: this.loadBalancerArn,
      targetGroupArn: this.targetGroupArn,
      instanceIds: this.instanceIds,
    });
  }
}

/** The checked load balancer settings of a group, with its gateway's. */
interface ValidatedAwsGatewayGroupArgs {
  gateway: ValidatedAwsGatewayArgs;
  crossZone: boolean;
  healthCheckProtocol: 'TCP' | 'HTTP';
  interval: number;
  deregistrationDelay: number;
  lbSubnets: pulumi.Input<string>[];
}

/** Every check of {@link AwsGatewayGroupArgs} (the gateway's under the group's name), once per arguments object. */
export const validateAwsGatewayGroupArgs = validatedOnce((label: string, args: AwsGatewayGroupArgs): ValidatedAwsGatewayGroupArgs => {
  const anyArgs = args as AwsGatewayArgs & Record<string, unknown>;
  if (typeof args === 'object' && args !== null && anyArgs.keySecret !== undefined) {
    throw new ComponentArgumentError(`${label}: keySecret is the group's own (one key for every gateway); give key or nothing`);
  }
  if (typeof args === 'object' && args !== null && anyArgs.createNetwork !== undefined) {
    throw new ComponentArgumentError(`${label}: createNetwork (a created VPC) is for AwsGateway only; give the group vpcId and subnets`);
  }
  // The gateway's checks, under the group's name, before anything is made.
  const gateway = validateAwsGatewayArgs(label, args as AwsGatewayArgs);
  const crossZone = args.crossZoneLoadBalancing ?? true;
  if (typeof crossZone !== 'boolean') throw new ComponentArgumentError(`${label}: crossZoneLoadBalancing must be a boolean`);
  const healthCheckProtocol = args.healthCheckProtocol ?? 'TCP';
  if (healthCheckProtocol !== 'TCP' && healthCheckProtocol !== 'HTTP') {
    throw new ComponentArgumentError(`${label}: healthCheckProtocol must be "TCP" or "HTTP" (NLB health checks cannot use UDP), got ${describe(healthCheckProtocol)}`);
  }
  const interval = args.healthCheckIntervalSeconds ?? 10;
  if (!Number.isInteger(interval) || interval < 5 || interval > 300) {
    throw new ComponentArgumentError(`${label}: healthCheckIntervalSeconds must be a whole number from 5 to 300, got ${describe(interval)}`);
  }
  const deregistrationDelay = args.deregistrationDelaySeconds ?? 30;
  if (!Number.isInteger(deregistrationDelay) || deregistrationDelay < 0 || deregistrationDelay > 3600) {
    throw new ComponentArgumentError(`${label}: deregistrationDelaySeconds must be a whole number from 0 to 3600, got ${describe(deregistrationDelay)}`);
  }
  const lbSubnets = args.loadBalancerSubnetIds ?? args.subnets.map((subnet) => subnet.subnetId);
  if (!Array.isArray(lbSubnets) || lbSubnets.length === 0) {
    throw new ComponentArgumentError(`${label}: loadBalancerSubnetIds must list at least one subnet`);
  }
  const plainLbSubnets = lbSubnets.filter((id): id is string => typeof id === 'string');
  if (new Set(plainLbSubnets).size !== plainLbSubnets.length) throw new ComponentArgumentError(`${label}: loadBalancerSubnetIds repeat a subnet`);
  return { gateway, crossZone, healthCheckProtocol, interval, deregistrationDelay, lbSubnets };
});

/** Where the NLB sits and how it checks its targets. */
interface NetworkLoadBalancerSettings extends Omit<ValidatedAwsGatewayGroupArgs, 'gateway'> {
  listenPort: number;
  healthPort: number;
  vpcId: pulumi.Input<string>;
  deletionProtection: boolean;
  tags: Record<string, pulumi.Input<string>>;
}

/**
 * The internet-facing NLB (`-nlb`), its UDP target group (`-tg`, TCP or HTTP health checks on the
 * agent's health port, connection termination on deregistration) with every gateway instance
 * attached (`-target-i`), and the UDP listener (`-udp`).
 */
function createNetworkLoadBalancer(
  name: string,
  at: NetworkLoadBalancerSettings,
  targets: pulumi.Input<string>[],
  parent: pulumi.Resource,
): { loadBalancer: aws.lb.LoadBalancer; targetGroup: aws.lb.TargetGroup; listener: aws.lb.Listener } {
  const loadBalancer = new aws.lb.LoadBalancer(
    `${name}-nlb`,
    {
      loadBalancerType: 'network',
      internal: false,
      ipAddressType: 'ipv4',
      subnets: at.lbSubnets,
      enableCrossZoneLoadBalancing: at.crossZone,
      enableDeletionProtection: at.deletionProtection,
      tags: { ...at.tags, [AWS_TAG_ROLE]: 'gateway-load-balancer' },
    },
    { parent },
  );
  const targetGroup = new aws.lb.TargetGroup(
    `${name}-tg`,
    {
      protocol: 'UDP',
      port: at.listenPort,
      targetType: 'instance',
      vpcId: at.vpcId,
      connectionTermination: true,
      deregistrationDelay: at.deregistrationDelay,
      healthCheck: {
        enabled: true,
        protocol: at.healthCheckProtocol,
        port: String(at.healthPort),
        ...(at.healthCheckProtocol === 'HTTP' ? { path: '/healthz', matcher: '200' } : {}),
        interval: at.interval,
        timeout: Math.min(5, at.interval - 1),
        healthyThreshold: 2,
        unhealthyThreshold: 2,
      },
      tags: { ...at.tags, [AWS_TAG_ROLE]: 'gateway-target-group' },
    },
    { parent },
  );
  targets.forEach((targetId, i) => {
    new aws.lb.TargetGroupAttachment(`${name}-target-${i}`, { targetGroupArn: targetGroup.arn, targetId, port: at.listenPort }, { parent });
  });
  const listener = new aws.lb.Listener(
    `${name}-udp`,
    {
      loadBalancerArn: loadBalancer.arn,
      port: at.listenPort,
      protocol: 'UDP',
      defaultActions: [{ type: 'forward', targetGroupArn: targetGroup.arn }],
      tags: at.tags,
    },
    { parent },
  );
  return { loadBalancer, targetGroup, listener };
}
