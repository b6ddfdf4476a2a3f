/**
 * `AwsGatewayGroup` (`wiremesh:aws:AwsGatewayGroup`): the load-balanced, highly available entry
 * point of a site. One {@link AwsGateway} (here, and only here, with one instance per subnet/AZ:
 * it is given `targetGroup`) behind an internet-facing Network Load Balancer:
 *
 * - **One key for the whole group**: one `WireGuardKey` (unless `key` is given) and one
 *   `AwsKeySecret`, handed to the gateway. Peers pin one public key for the endpoint.
 * - **Active/standby** (components/shared-key.ts): a peer keeps one session and one endpoint per
 *   key, so exactly one instance holds the sessions. The shared document has no peer endpoints (no
 *   instance initiates; peers initiate to the NLB), and every subnet's route tables point at the
 *   active instance (the first subnet's at creation).
 * - **Failover by the agents** (default with two or more subnets; aws/failover.ts,
 *   components/README.md "AWS failover"): the document names every member; a standby that sees
 *   the active fail moves the routes to its ENI (`ec2:ReplaceRoute` on exactly the group's route
 *   tables). Every gateway is an NLB target, and the NLB checks `GET /active` over HTTP on the
 *   agent's health port (200 only on the route holder), so peers' flows follow the routes.
 *   `failover: false`: one fixed target, the first gateway, checked over TCP (or `GET /healthz`
 *   with `healthCheckProtocol: "HTTP"`); a failed active is replaced by hand.
 * - **Static NLB addresses**: one Elastic IP per NLB subnet through subnet mappings
 *   (`-nlb-eip-i`, or `loadBalancerAddresses`); the NLB answers peers from them, so a peer's
 *   firewall admits them (`loadBalancerAddresses` output, the mesh's source addresses).
 * - A **UDP listener** on `listenPort` forwarding to a **UDP target group** (target type
 *   `instance`). Client IP preservation is always on for UDP, so the gateways' security group
 *   still sees (and filters on) the peers' addresses. NLB health checks cannot use UDP; the health
 *   port is open to the VPC's CIDR blocks, where the NLB nodes are.
 * - **Cross-zone load balancing on** by default: a WireGuard peer resolves the endpoint's DNS name
 *   once and keeps that one NLB address, so the NLB node behind it must be able to reach the
 *   active gateway in any AZ. Cross-AZ traffic is billed.
 * - `connectionTermination` on deregistration, so flows move to another target instead of staying
 *   pinned to a gateway being replaced (WireGuard keepalives would keep such a flow alive forever).
 *
 * Caveats: failover drops the session until the peer's next handshake (no shared session state;
 * the boot lab measured 20 s without traffic, lab/boot/README.md "Failover").
 */
import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import { ComponentArgumentError, componentLabel, describe } from '../errors';
import { gatewayKey, keySecretVersions } from '../gateway-key';
import { validatedOnce } from '../validate-once';
import { AwsGateway } from './gateway';
import { validateAwsGatewayArgs, type AwsGatewayArgs, type ValidatedAwsGatewayArgs } from './gateway-args';
import { AwsKeySecret, checkedKmsKeyArn } from './key-secret';
import { checkedFailoverArgs, type AwsGroupFailoverArgs } from './failover';
import { AWS_TAG_ROLE, AWS_TAG_SITE } from '../../common/defaults';
import { ACTIVE_INDEX, routeTablesAtActive, sharedKeyDocument } from '../shared-key';

/** An Elastic IP the NLB takes in one of its subnets. */
export interface LoadBalancerAddress {
  allocationId: pulumi.Input<string>;
  publicIp: pulumi.Input<string>;
}

/** Arguments of {@link AwsGatewayGroup}: those of {@link AwsGateway} (the key is the group's) and the load balancer's. */
export interface AwsGatewayGroupArgs extends Omit<
  AwsGatewayArgs,
  'keySecret' | 'vpcId' | 'subnets' | 'createNetwork' | 'failover' | 'targetGroup'
> {
  /** The VPC the gateways run in (bring your own VPC; a group does not create one yet). */
  vpcId: pulumi.Input<string>;
  /** One gateway instance per entry; at least one. Use one subnet per AZ. */
  subnets: NonNullable<AwsGatewayArgs['subnets']>;
  /**
   * Subnets of the load balancer, one per AZ (public subnets). Default: the gateways' subnets, which
   * must then be in distinct AZs (an NLB takes one subnet per AZ).
   */
  loadBalancerSubnetIds?: pulumi.Input<string>[];
  /**
   * The NLB's Elastic IPs, one per load balancer subnet in the same order (e.g. kept across
   * rebuilds, or made first so peers can admit them); default: new ones (`-nlb-eip-i`).
   */
  loadBalancerAddresses?: LoadBalancerAddress[];
  /** Cross-zone load balancing; default true (see the file header). */
  crossZoneLoadBalancing?: boolean;
  /**
   * Automatic failover by the agents (default on with two or more subnets; see components/README.md
   * "AWS failover"): a standby that sees the active fail moves the routes to its ENI, and the NLB,
   * which checks every gateway's `GET /active`, follows. `false`: one fixed NLB target and fixed
   * routes, a failed active is replaced by hand.
   */
  failover?: AwsGroupFailoverArgs | false;
  /**
   * Without failover: `TCP` (default), the health port accepts connections; `HTTP`, `GET /healthz`
   * answers 200. With failover the NLB checks `GET /active` over HTTP (only the route holder
   * answers 200), so only `HTTP` is accepted.
   */
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
  /** The NLB's static public addresses (its Elastic IPs): the source of its replies to peers. */
  public readonly loadBalancerAddresses: pulumi.Output<string[]>;
  /** The first gateway's instance id: the active one at creation (without failover, the NLB's one target). */
  public readonly activeInstanceId: pulumi.Output<string>;
  /** The gateway instances' ids (the first is the active one at creation). */
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
    const key = gatewayKey(name, label, args.key, args.maxKeyAgeDays, this);
    const publicKey = key.publicKey;
    const keySecret = new AwsKeySecret(
      `${name}-key`,
      {
        ...keySecretVersions(key),
        siteName: args.siteName,
        ...(args.kmsKeyId !== undefined ? { kmsKeyId: checkedKmsKeyArn(label, 'kmsKeyId', args.kmsKeyId) } : {}),
        ...(args.secretRecoveryWindowInDays !== undefined
          ? { recoveryWindowInDays: args.secretRecoveryWindowInDays }
          : {}),
        ...(args.tags !== undefined ? { tags: args.tags } : {}),
      },
      { parent: this },
    );

    const {
      loadBalancerSubnetIds: _lbSubnets,
      loadBalancerAddresses: _lbAddresses,
      crossZoneLoadBalancing: _crossZone,
      healthCheckProtocol: _protocol,
      healthCheckIntervalSeconds: _interval,
      deregistrationDelaySeconds: _delay,
      deletionProtection: _protection,
      failover: _failover,
      key: _key,
      maxKeyAgeDays: _maxAge,
      ...gatewayArgs
    } = args;
    // The instances' health gates read the target group's health; it is made after them.
    const [targetGroupArn, resolveTargetGroupArn] = pulumi.deferredOutput<string>();
    // The group checked these arguments under its own name: the gateway does not check them again.
    const sharedArgs: AwsGatewayArgs = {
      ...gatewayArgs,
      subnets: routeTablesAtActive(args.subnets),
      agent: { ...args.agent, config: pulumi.output(args.agent.config).apply(sharedKeyDocument) },
      keySecret: { secret: keySecret, publicKey },
      ...(checked.failover !== false ? { failover: checked.failover } : {}),
      targetGroup: { arn: targetGroupArn, port: listenPort, failover: checked.failover !== false },
    };
    const gateway = new AwsGateway(`${name}-gateway`, validateAwsGatewayArgs.seed(sharedArgs, checked.gateway), {
      parent: this,
    });
    const active = gateway.instances[ACTIVE_INDEX]!.instance;
    const addresses =
      args.loadBalancerAddresses ??
      checked.lbSubnets
        .map(
          (_, i) =>
            new aws.ec2.Eip(
              `${name}-nlb-eip-${i}`,
              { domain: 'vpc', tags: { ...tags, [AWS_TAG_ROLE]: 'gateway-load-balancer' } },
              { parent: this },
            ),
        )
        .map((eip) => ({ allocationId: eip.allocationId, publicIp: eip.publicIp }));

    const { loadBalancer, targetGroup, listener } = createNetworkLoadBalancer(
      name,
      {
        ...checked,
        addresses,
        listenPort,
        healthPort,
        vpcId: args.vpcId,
        deletionProtection: args.deletionProtection ?? false,
        tags,
      },
      checked.failover !== false ? gateway.instances.map((g) => g.instance.id) : [active.id],
      this,
    );
    resolveTargetGroupArn(targetGroup.arn);

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
    this.activeInstanceId = active.id;
    this.loadBalancerAddresses = pulumi.all(addresses.map((a) => a.publicIp));
    this.registerOutputs({
      loadBalancerAddresses: this.loadBalancerAddresses,
      activeInstanceId: this.activeInstanceId,
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
  failover: AwsGroupFailoverArgs | false;
}

/** Every check of {@link AwsGatewayGroupArgs} (the gateway's under the group's name), once per arguments object. */
export const validateAwsGatewayGroupArgs = validatedOnce(
  (label: string, args: AwsGatewayGroupArgs): ValidatedAwsGatewayGroupArgs => {
    const anyArgs = args as AwsGatewayArgs & Record<string, unknown>;
    if (typeof args === 'object' && args !== null && anyArgs.keySecret !== undefined) {
      throw new ComponentArgumentError(
        `${label}: keySecret is the group's own (one key for every gateway); give key or nothing`,
      );
    }
    if (typeof args === 'object' && args !== null && anyArgs.createNetwork !== undefined) {
      throw new ComponentArgumentError(
        `${label}: createNetwork (a created VPC) is for AwsGateway only; give the group vpcId and subnets`,
      );
    }
    // The gateway's checks, under the group's name, before anything is made.
    const gateway = validateAwsGatewayArgs(label, args as AwsGatewayArgs);
    const crossZone = args.crossZoneLoadBalancing ?? true;
    if (typeof crossZone !== 'boolean')
      throw new ComponentArgumentError(`${label}: crossZoneLoadBalancing must be a boolean`);
    const failover =
      args.failover === false || args.subnets.length < 2 ? false : checkedFailoverArgs(label, args.failover ?? {});
    if (failover !== false && args.healthCheckProtocol === 'TCP') {
      throw new ComponentArgumentError(
        `${label}: healthCheckProtocol "TCP" cannot tell the active gateway from a standby; with failover the NLB checks GET /active over HTTP (leave healthCheckProtocol out, or set failover: false)`,
      );
    }
    const healthCheckProtocol = args.healthCheckProtocol ?? (failover !== false ? 'HTTP' : 'TCP');
    if (healthCheckProtocol !== 'TCP' && healthCheckProtocol !== 'HTTP') {
      throw new ComponentArgumentError(
        `${label}: healthCheckProtocol must be "TCP" or "HTTP" (NLB health checks cannot use UDP), got ${describe(healthCheckProtocol)}`,
      );
    }
    const interval = args.healthCheckIntervalSeconds ?? 10;
    if (!Number.isInteger(interval) || interval < 5 || interval > 300) {
      throw new ComponentArgumentError(
        `${label}: healthCheckIntervalSeconds must be a whole number from 5 to 300, got ${describe(interval)}`,
      );
    }
    const deregistrationDelay = args.deregistrationDelaySeconds ?? 30;
    if (!Number.isInteger(deregistrationDelay) || deregistrationDelay < 0 || deregistrationDelay > 3600) {
      throw new ComponentArgumentError(
        `${label}: deregistrationDelaySeconds must be a whole number from 0 to 3600, got ${describe(deregistrationDelay)}`,
      );
    }
    const lbSubnets = args.loadBalancerSubnetIds ?? args.subnets.map((subnet) => subnet.subnetId);
    if (!Array.isArray(lbSubnets) || lbSubnets.length === 0) {
      throw new ComponentArgumentError(`${label}: loadBalancerSubnetIds must list at least one subnet`);
    }
    const plainLbSubnets = lbSubnets.filter((id): id is string => typeof id === 'string');
    if (new Set(plainLbSubnets).size !== plainLbSubnets.length)
      throw new ComponentArgumentError(`${label}: loadBalancerSubnetIds repeat a subnet`);
    if (
      args.loadBalancerAddresses !== undefined &&
      (!Array.isArray(args.loadBalancerAddresses) || args.loadBalancerAddresses.length !== lbSubnets.length)
    ) {
      throw new ComponentArgumentError(
        `${label}: loadBalancerAddresses must give one Elastic IP per load balancer subnet (${lbSubnets.length})`,
      );
    }
    return { gateway, crossZone, healthCheckProtocol, interval, deregistrationDelay, lbSubnets, failover };
  },
);

/** Where the NLB sits and how it checks its targets. */
interface NetworkLoadBalancerSettings extends Omit<ValidatedAwsGatewayGroupArgs, 'gateway'> {
  listenPort: number;
  healthPort: number;
  vpcId: pulumi.Input<string>;
  addresses: LoadBalancerAddress[];
  deletionProtection: boolean;
  tags: Record<string, pulumi.Input<string>>;
}

/**
 * The internet-facing NLB (`-nlb`), its UDP target group (`-tg`, health checks on the agent's
 * health port: `GET /active` with failover, else TCP or `GET /healthz`; connection termination on
 * deregistration) with its targets attached (`-target`, `-target-i`: every gateway with failover,
 * else the first), and the UDP listener (`-udp`). Subnet mappings give the NLB its Elastic IPs.
 */
function createNetworkLoadBalancer(
  name: string,
  at: NetworkLoadBalancerSettings,
  targetInstanceIds: pulumi.Input<string>[],
  parent: pulumi.Resource,
): { loadBalancer: aws.lb.LoadBalancer; targetGroup: aws.lb.TargetGroup; listener: aws.lb.Listener } {
  const loadBalancer = new aws.lb.LoadBalancer(
    `${name}-nlb`,
    {
      loadBalancerType: 'network',
      internal: false,
      ipAddressType: 'ipv4',
      subnetMappings: at.lbSubnets.map((subnetId, i) => ({ subnetId, allocationId: at.addresses[i]!.allocationId })),
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
        ...(at.healthCheckProtocol === 'HTTP'
          ? { path: at.failover !== false ? '/active' : '/healthz', matcher: '200' }
          : {}),
        interval: at.interval,
        timeout: Math.min(5, at.interval - 1),
        healthyThreshold: 2,
        unhealthyThreshold: 2,
      },
      tags: { ...at.tags, [AWS_TAG_ROLE]: 'gateway-target-group' },
    },
    { parent },
  );
  // Without failover one target, the active holder of the key (a standby as target would get flows it
  // has no session for). With failover every gateway, of which only the route holder passes GET /active.
  targetInstanceIds.forEach(
    (targetId, i) =>
      new aws.lb.TargetGroupAttachment(
        i === 0 ? `${name}-target` : `${name}-target-${i}`,
        { targetGroupArn: targetGroup.arn, targetId, port: at.listenPort },
        { parent },
      ),
  );
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
