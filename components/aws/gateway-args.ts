/**
 * The arguments of `AwsGateway` and their checks (pure: no resources). The component and the mesh
 * run {@link validateAwsGatewayArgs} once per arguments object, before anything is registered.
 */
import type { AwsGroupFailoverArgs } from './failover';
import type * as pulumi from '@pulumi/pulumi';
import { HEALTH_PORT, WIREGUARD_PORT } from '../../common/defaults';
import {
  agentParts,
  checkAgentArgs,
  checkPlainAgentConfig,
  type GatewayAgentArgs,
  type GatewayAgentConfig,
} from '../agent-config';
import { checkedInput, ComponentArgumentError, describe, isPlain } from '../errors';
import { checkGatewayKeyArgs, type GatewayKeyArgs } from '../gateway-key';
import { validatedOnce } from '../validate-once';
import { AwsKeySecret, checkCallerTags, checkRecoveryWindow } from './key-secret';
import { checkNetworkArgs, type AwsGatewayCreateNetworkArgs, type CheckedNetwork } from './network';
import type { SecretReadGrant } from './policy';
import { checkCidr, checkNoOverlap, checkPort, isAnywhere, type CheckedCidr } from './validation';

export const DEFAULT_INSTANCE_TYPE = 't3.small';

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

/** A key secret made by the caller (AwsGatewayGroup: one key for all its gateways). */
export interface AwsGatewayKeySecretArgs {
  secret: AwsKeySecret;
  /** The public key of the key it holds. */
  publicKey: pulumi.Input<string>;
}

/** Arguments of {@link AwsGateway}. */
export interface AwsGatewayArgs {
  /** The site's name: tags and descriptions. 1 to 32 lowercase letters, digits or hyphens. */
  siteName: string;
  /** The VPC the gateway runs in (bring your own VPC), with `subnets`. Excludes `createNetwork`. */
  vpcId?: pulumi.Input<string>;
  /**
   * With `vpcId`: the gateway's subnet, exactly one (its instance runs there). Several (one per AZ)
   * are an AwsGatewayGroup's: instances sharing a key would displace each other's sessions.
   */
  subnets?: AwsGatewaySubnetArgs[];
  /** A VPC the gateway creates, instead of `vpcId` and `subnets` (see aws/network.ts). */
  createNetwork?: AwsGatewayCreateNetworkArgs;
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
   * come from. Default: the VPC's IPv4 CIDR blocks (looked up with `aws.ec2.getVpc`; `createNetwork.cidr`
   * for a created VPC).
   */
  healthCheckCidrs?: pulumi.Input<string>[];
  /**
   * Local source ranges whose traffic the gateway forwards to the remote sites (security groups
   * filter forwarded packets too; see aws/security-group.ts). Default none.
   */
  forwardFromCidrs?: pulumi.Input<string>[];
  /** A key made elsewhere (a `WireGuardKey` fits). Excludes `keySecret`. Default: a new `WireGuardKey`. */
  key?: GatewayKeyArgs;
  /** Maximum key age in days of the `WireGuardKey` made when no key is given; default 90. */
  maxKeyAgeDays?: number;
  /** A key secret shared with other gateways (AwsGatewayGroup's) and its public key. Excludes `key`. */
  keySecret?: AwsGatewayKeySecretArgs;
  /** Agent installation and configuration (the same shape as GcpGateway's). */
  agent: GatewayAgentArgs;
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
  /**
   * Set by AwsGatewayGroup (checked there): the instances are one active/standby failover group.
   * The document gets the `failover` section, the role ReplaceRoute on the route tables, and the
   * routes are the agents' to move (see aws/failover.ts).
   */
  failover?: AwsGroupFailoverArgs;
  /**
   * Set by AwsGatewayGroup: the NLB target group of the instances, whose health check tells a
   * rolling replacement when a replaced instance serves (see aws/instances.ts). Only with it may
   * `subnets` list several (the group's one active key holder and its standbys).
   */
  targetGroup?: AwsGatewayTargetGroup;
}

/** The arguments after the checks that can run while the program runs. */
export interface ValidatedAwsGatewayArgs {
  /** With `createNetwork`: the VPC to create. */
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

/**
 * Every check of {@link AwsGatewayArgs} that needs no cloud, once per arguments object (see
 * ../validate-once.ts); throws ComponentArgumentError naming the argument path.
 */
export const validateAwsGatewayArgs = validatedOnce(checkAwsGatewayArgs);

function checkAwsGatewayArgs(label: string, args: AwsGatewayArgs): ValidatedAwsGatewayArgs {
  if (typeof args !== 'object' || args === null) throw new ComponentArgumentError(`${label}: args are required`);
  if (typeof args.siteName !== 'string' || !SITE_NAME.test(args.siteName)) {
    throw new ComponentArgumentError(
      `${label}: siteName must be 1 to 32 lowercase letters, digits or hyphens (not at either end), got ${describe(args.siteName)}`,
    );
  }
  // The VPC: exactly one of vpcId + subnets (bring your own) and createNetwork (created here).
  const given = (value: unknown): boolean => value !== undefined && value !== null;
  let network: CheckedNetwork | undefined;
  if (given(args.createNetwork)) {
    if (given(args.vpcId) || given(args.subnets)) {
      throw new ComponentArgumentError(
        `${label}: give either vpcId and subnets (bring your own VPC) or createNetwork (a VPC the gateway creates), not both`,
      );
    }
    network = checkNetworkArgs(label, args.createNetwork!);
  } else if (!given(args.vpcId) && !given(args.subnets)) {
    throw new ComponentArgumentError(
      `${label}: give vpcId and subnets (bring your own VPC) or createNetwork: { cidr, availabilityZones } (a VPC the gateway creates)`,
    );
  }
  if (network === undefined) checkSubnetArgs(label, args);

  if (!Array.isArray(args.remoteCidrs) || args.remoteCidrs.length === 0) {
    throw new ComponentArgumentError(`${label}: remoteCidrs must list at least one remote prefix`);
  }
  const remoteCidrs = args.remoteCidrs.map((cidr, i) => {
    const checked = checkCidr(label, `remoteCidrs[${i}]`, cidr);
    if (isAnywhere(checked)) {
      throw new ComponentArgumentError(
        `${label}: remoteCidrs[${i}] ${checked.text} would route all traffic through the tunnel; list the remote prefixes instead`,
      );
    }
    return checked;
  });
  checkNoOverlap(label, 'remoteCidrs', remoteCidrs);

  const listenPort = checkPort(label, 'listenPort', args.listenPort ?? WIREGUARD_PORT);
  const healthPort = checkPort(label, 'healthPort', args.healthPort ?? HEALTH_PORT);
  const ami = checkInstanceArgs(label, args);
  checkAgentArgs(label, args.agent);
  if (isPlain(args.agent.config))
    checkPlainAgentConfig(label, args.agent.config as GatewayAgentConfig, {
      ...agentParts(args.agent),
      listenPort,
      healthPort,
    });
  checkKeyArgs(label, args);

  const { peerCidrs, healthCheckCidrs, forwardFromCidrs } = checkSourceRanges(label, args);
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

/** The instance settings; returns the AMI, checked when it resolves. */
function checkInstanceArgs(label: string, args: AwsGatewayArgs): pulumi.Output<string> | undefined {
  if (
    args.rootVolumeSizeGiB !== undefined &&
    (!Number.isInteger(args.rootVolumeSizeGiB) || args.rootVolumeSizeGiB < 1 || args.rootVolumeSizeGiB > 16384)
  ) {
    throw new ComponentArgumentError(
      `${label}: rootVolumeSizeGiB must be a whole number from 1 to 16384, got ${describe(args.rootVolumeSizeGiB)}`,
    );
  }
  if (args.architecture !== undefined && args.architecture !== 'x86_64' && args.architecture !== 'arm64') {
    throw new ComponentArgumentError(
      `${label}: architecture must be "x86_64" or "arm64", got ${describe(args.architecture)}`,
    );
  }
  checkRecoveryWindow(label, args.secretRecoveryWindowInDays ?? 7);
  checkCallerTags(label, args.tags);
  if (typeof args.instanceType === 'string' && !/^[a-z][a-z0-9-]*\.[a-z0-9]+$/.test(args.instanceType)) {
    throw new ComponentArgumentError(
      `${label}: instanceType ${describe(args.instanceType)} is not an EC2 instance type (e.g. t3.small)`,
    );
  }
  return args.ami === undefined
    ? undefined
    : checkedInput(args.ami, (value) => {
        if (typeof value !== 'string' || !/^ami-[0-9a-f]{8,17}$/.test(value))
          throw new ComponentArgumentError(`${label}: ami must be an AMI id (ami-...), got ${describe(value)}`);
      });
}

/** The key: exactly one of `key`, `keySecret` and a new one. */
function checkKeyArgs(label: string, args: AwsGatewayArgs): void {
  if (args.keySecret !== undefined) {
    if (args.key !== undefined) throw new ComponentArgumentError(`${label}: give key or keySecret, not both`);
    if (
      typeof args.keySecret !== 'object' ||
      args.keySecret === null ||
      !(args.keySecret.secret instanceof AwsKeySecret)
    ) {
      throw new ComponentArgumentError(`${label}: keySecret.secret must be an AwsKeySecret`);
    }
    if (args.keySecret.publicKey === undefined || args.keySecret.publicKey === '') {
      throw new ComponentArgumentError(
        `${label}: keySecret.publicKey is required (the public key of the key it holds)`,
      );
    }
    if (args.maxKeyAgeDays !== undefined) {
      throw new ComponentArgumentError(
        `${label}: maxKeyAgeDays applies only to a key the gateway creates; rotate the given key where it is created`,
      );
    }
  }
  checkGatewayKeyArgs(label, args.key, args.maxKeyAgeDays);
}

/** Who may talk to the gateway: WireGuard from the peers, health checks, forwarded traffic. */
function checkSourceRanges(
  label: string,
  args: AwsGatewayArgs,
): Pick<ValidatedAwsGatewayArgs, 'peerCidrs' | 'healthCheckCidrs' | 'forwardFromCidrs'> {
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
    peerCidrs = checkedCidrList(label, 'peerCidrs', args.peerCidrs, {
      anywhere: allowFromAnywhere ? 'allowed' : 'needs-allowFromAnywhere',
    });
  }
  const healthCheckCidrs =
    args.healthCheckCidrs === undefined
      ? []
      : checkedCidrList(label, 'healthCheckCidrs', args.healthCheckCidrs, { anywhere: 'refused' });
  if (args.healthCheckCidrs !== undefined && healthCheckCidrs.length === 0) {
    throw new ComponentArgumentError(
      `${label}: healthCheckCidrs must not be empty (leave it out for the VPC's CIDR blocks)`,
    );
  }
  const forwardFromCidrs =
    args.forwardFromCidrs === undefined
      ? []
      : checkedCidrList(label, 'forwardFromCidrs', args.forwardFromCidrs, { anywhere: 'refused' });
  return { peerCidrs, healthCheckCidrs, forwardFromCidrs };
}

/**
 * A stand-alone AwsGateway runs one instance: instances sharing one WireGuard key each handshake
 * with every peer, and a peer keeps one session and one endpoint per key, so they would displace
 * each other's sessions (and each subnet's routes would lead to a different one). Several
 * instances are an AwsGatewayGroup: one active key holder behind an NLB, failing over. The
 * group's own gateway (the one given `targetGroup`) is the one AwsGateway with several.
 */
export function checkOneKeyHolder(label: string, args: AwsGatewayArgs, checked: ValidatedAwsGatewayArgs): void {
  if (args.targetGroup !== undefined) return;
  const zones = checked.network?.availabilityZones.length;
  const count = zones ?? args.subnets!.length;
  if (count <= 1) return;
  const field =
    zones !== undefined ? `createNetwork.availabilityZones lists ${count} zones` : `subnets lists ${count} subnets`;
  const group = zones !== undefined ? 'AwsGatewayGroup (in a VPC of yours: vpcId and subnets)' : 'AwsGatewayGroup';
  throw new ComponentArgumentError(
    `${label}: ${field}, but an AwsGateway is one instance holding its WireGuard key ` +
      `(instances sharing a key displace each other's sessions with every peer): give one, or use ${group} ` +
      `for several (one active key holder behind a network load balancer, with automatic failover)`,
  );
}

/** Checks `vpcId` and `subnets` (bring your own VPC). */
function checkSubnetArgs(label: string, args: AwsGatewayArgs): void {
  if (args.vpcId === undefined || args.vpcId === null || args.vpcId === '') {
    throw new ComponentArgumentError(
      `${label}: vpcId is required with subnets (or give createNetwork instead of both, for a VPC the gateway creates)`,
    );
  }
  if (!Array.isArray(args.subnets) || args.subnets.length === 0) {
    throw new ComponentArgumentError(
      `${label}: subnets must list at least one subnet (one gateway instance runs in each)`,
    );
  }
  const subnetIds = new Map<string, number>();
  const routeTables = new Map<string, number>();
  args.subnets.forEach((subnet, i) => {
    if (typeof subnet !== 'object' || subnet === null || subnet.subnetId === undefined || subnet.subnetId === '') {
      throw new ComponentArgumentError(`${label}: subnets[${i}].subnetId is required`);
    }
    if (typeof subnet.subnetId === 'string') {
      const first = subnetIds.get(subnet.subnetId);
      if (first !== undefined)
        throw new ComponentArgumentError(`${label}: subnets[${i}] repeats subnets[${first}] (${subnet.subnetId})`);
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

/**
 * A list of security group source ranges: plain entries checked now, late ones when they resolve;
 * exact repeats refused (AWS rejects a duplicate range in one rule).
 */
export function checkedCidrList(
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
      if (first !== undefined)
        throw new ComponentArgumentError(`${label}: ${what}[${i}] repeats ${what}[${first}] (${cidr.text})`);
      seen.set(cidr.text, i);
      return cidr.text;
    }
    return checkedInput(value, (resolved) => {
      check(resolved, i);
    });
  });
}

/** The NLB target group of a gateway group's instances (set by AwsGatewayGroup). */
export interface AwsGatewayTargetGroup {
  arn: pulumi.Input<string>;
  /** The port the instances are registered on (the WireGuard port). */
  port: number;
  /**
   * True in a failover group: every instance is a target and the health check asks `GET /active`,
   * which standbys answer 503. False: only the first instance is a target.
   */
  failover: boolean;
}
