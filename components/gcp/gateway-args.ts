/**
 * The arguments of `GcpGateway` and their checks (pure: no resources). The gateway, its group and
 * the mesh run {@link validateGcpGatewayArgs} once per arguments object, before anything is registered.
 */
import { createHash } from 'node:crypto';
import type * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';
import { HEALTH_PORT, WIREGUARD_PORT } from '../../common/defaults';
import {
  agentParts,
  checkAgentArgs,
  checkPlainAgentConfig,
  type GatewayAgentArgs,
  type GatewayAgentConfig,
} from '../agent-config';
import { componentLabel, fail, isPlain } from '../errors';
import { checkGatewayKeyArgs, type GatewayKeyArgs } from '../gateway-key';
import { validatedOnce } from '../validate-once';
import type { GcpSecretReplicationArgs } from './key-secret';
import {
  GOOGLE_HEALTH_CHECK_RANGES,
  NETWORK_LB_HEALTH_CHECK_RANGES,
  checkCidrList,
  checkComponentName,
  checkLabels,
  checkNetworkTags,
  checkPort,
  parseIpv4Cidr,
  regionOfZone,
} from './validation';

/** The OAuth scope of the gateway VMs: IAM, not scopes, restricts what they may do. */
export const CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';
/** Default boot image: shielded-VM capable, with cloud-init (reads `user-data`). */
export const DEFAULT_IMAGE = 'ubuntu-os-cloud/ubuntu-2404-lts-amd64';
/** Longest component name: children are `<name>-<role>` and auto-named with 8 more characters. */
export const MAX_GATEWAY_NAME_LENGTH = 30;
/** Most instances one gateway may have. */
export const MAX_INSTANCES = 16;

/** The network a gateway creates (see {@link GcpGatewayArgs.createNetwork}). */
export interface GcpGatewayCreateNetworkArgs {
  /** The subnetwork's primary IPv4 range, e.g. `10.40.0.0/24`. */
  cidr: string;
}

/** Arguments of {@link GcpGateway}. */
export interface GcpGatewayArgs {
  /** Project of every resource; default: the provider's project. */
  project?: pulumi.Input<string>;
  /** Zones of the instances, all in one region (e.g. `["europe-west1-b", "europe-west1-c"]`). */
  zones: string[];
  /** Number of instances, spread round-robin over `zones`; default 1 (1 to 16). */
  instanceCount?: number;
  /** The VPC network (name, id or self link), with `subnetwork`. Excludes `createNetwork`. */
  network?: pulumi.Input<string>;
  /** With `network`: the subnetwork of the instances (in the zones' region). */
  subnetwork?: pulumi.Input<string>;
  /**
   * Create the network instead of passing `network` and `subnetwork`: a custom-mode network and one
   * subnetwork with primary range `cidr` (IPv4, /8 to /29) in the zones' region.
   */
  createNetwork?: GcpGatewayCreateNetworkArgs;
  /** Machine type; default `e2-small`. */
  machineType?: string;
  /**
   * Boot image; default `ubuntu-os-cloud/ubuntu-2404-lts-amd64`. It must support shielded VM and
   * run cloud-init (the bootstrap is `user-data`): Google's Debian images do not run cloud-init.
   */
  image?: pulumi.Input<string>;
  /** Boot disk size in GB; default 10. */
  bootDiskSizeGb?: number;
  /** WireGuard UDP port; default 51820. */
  listenPort?: number;
  /** TCP port of the agent's health listener; default 9587. */
  healthPort?: number;
  /** Where peers connect from: the only sources of the WireGuard firewall rule. */
  peerCidrs?: string[];
  /** Open the WireGuard port to 0.0.0.0/0 (peers behind changing addresses). Default false. */
  allowFromAnywhere?: boolean;
  /** The remote sites' prefixes routed to the gateway. */
  remoteCidrs: string[];
  /** Priority of the routes (0 to 65535, lower wins); default 900. */
  routePriority?: number;
  /** Only instances with one of these tags use the routes; default: the whole network. */
  routeTags?: string[];
  /** Route through an internal passthrough NLB over the instances instead of one route per instance. */
  internalLoadBalancer?: boolean;
  /**
   * Active/standby instead of spreading flows: the instance in the first zone is the load
   * balancers' primary backend, the others are failover backends that take over when it fails its
   * health check (and hand back when it recovers). Needs a load balancer (`internalLoadBalancer`, or
   * a group) and at most one instance per zone. Recommended with a shared key (see above).
   */
  activeStandby?: boolean;
  /**
   * Prepare the instances as backends of an external passthrough NLB (per-zone instance groups,
   * health port open to the NLB probe ranges). Set by {@link GcpGatewayGroup}, which creates the LB.
   */
  externalLoadBalancer?: boolean;
  /** Static external address per instance; default true. */
  externalAddresses?: boolean;
  /** Ranges allowed to send any traffic through the gateways (firewall rule); default none. */
  forwardFromCidrs?: string[];
  /** Extra network tags of the instances. */
  networkTags?: string[];
  /** Extra labels on instances and secrets (plain; `wiremesh-` is reserved). */
  labels?: Record<string, string>;
  /** Agent installation and configuration (the same shape as AwsGateway's). */
  agent: GatewayAgentArgs;
  /** A key created elsewhere; default: a new `WireGuardKey` (rotated every `maxKeyAgeDays`). */
  key?: GatewayKeyArgs;
  /** Maximum key age when the gateway creates the key; default 90. */
  maxKeyAgeDays?: number;
  /** Replication of the key and config secrets; default automatic. */
  secretReplication?: GcpSecretReplicationArgs;
  /**
   * The service account id (6 to 30 characters); default `wm-<name>-<hash>` (the hash of project,
   * stack and name keeps stacks sharing a GCP project apart).
   */
  serviceAccountId?: string;
  /** Refuse deleting the instances and secrets; default false. */
  deletionProtection?: boolean;
  /**
   * Further secrets the agent reads (e.g. the preshared keys its configuration references): the
   * service account gets `roles/secretmanager.secretAccessor` on exactly each (a secret-level
   * member `<name>-read-<i>`), before the instances boot. Default none.
   */
  extraSecretReads?: gcp.secretmanager.Secret[];
}

/** The default service account id of a gateway: `wm-<name, at most 20>-<6 hex>`. */
export function defaultServiceAccountId(name: string): string {
  const hash = createHash('sha256')
    .update(`${pulumi.getProject()}/${pulumi.getStack()}/${name}`)
    .digest('hex')
    .slice(0, 6);
  const prefix = name.slice(0, 20).replace(/-+$/, '');
  return `wm-${prefix}-${hash}`;
}

/** The validated, defaulted plain arguments of a gateway. */
export interface ValidatedGcpGatewayArgs {
  region: string;
  instanceCount: number;
  listenPort: number;
  healthPort: number;
  routePriority: number;
  machineType: string;
  bootDiskSizeGb: number;
  externalAddresses: boolean;
  loadBalanced: boolean;
  healthCheckRanges: string[];
  serviceAccountId: string;
  activeStandby: boolean;
}

/**
 * Checks every plain argument of a gateway, once per arguments object (see ../validate-once.ts);
 * `component` names the component in the messages (GcpGatewayGroup checks its gateway's arguments
 * under its own name).
 */
export const validateGcpGatewayArgs = validatedOnce(checkGcpGatewayArgs);

function checkGcpGatewayArgs(component: string, name: string, args: GcpGatewayArgs): ValidatedGcpGatewayArgs {
  checkComponentName(component, name, MAX_GATEWAY_NAME_LENGTH);
  if (typeof args !== 'object' || args === null) fail(component, name, 'args are required');

  const region = regionOfZones(component, name, args.zones);

  const instanceCount = args.instanceCount ?? 1;
  if (!Number.isInteger(instanceCount) || instanceCount < 1 || instanceCount > MAX_INSTANCES) {
    fail(
      component,
      name,
      `instanceCount must be an integer from 1 to ${MAX_INSTANCES}, got ${String(args.instanceCount)}`,
    );
  }
  checkNetworkChoice(component, name, args);

  const listenPort = args.listenPort ?? WIREGUARD_PORT;
  checkPort(component, name, 'listenPort', listenPort);
  const healthPort = args.healthPort ?? HEALTH_PORT;
  checkPort(component, name, 'healthPort', healthPort);

  checkRanges(component, name, args);

  const routePriority = args.routePriority ?? 900;
  if (!Number.isInteger(routePriority) || routePriority < 0 || routePriority > 65535) {
    fail(component, name, `routePriority must be an integer from 0 to 65535, got ${String(args.routePriority)}`);
  }
  checkNetworkTags(component, name, 'routeTags', args.routeTags);
  checkNetworkTags(component, name, 'networkTags', args.networkTags);
  checkLabels(component, name, args.labels);

  const machineType = args.machineType ?? 'e2-small';
  if (typeof machineType !== 'string' || !/^[a-z0-9][a-z0-9-]*$/.test(machineType)) {
    fail(
      component,
      name,
      `machineType must be a machine type name such as e2-small, got ${JSON.stringify(machineType)}`,
    );
  }
  const bootDiskSizeGb = args.bootDiskSizeGb ?? 10;
  if (!Number.isInteger(bootDiskSizeGb) || bootDiskSizeGb < 10 || bootDiskSizeGb > 65536) {
    fail(component, name, `bootDiskSizeGb must be an integer from 10 to 65536, got ${String(args.bootDiskSizeGb)}`);
  }

  const label = componentLabel(component, name);
  checkAgentArgs(label, args.agent);
  if (isPlain(args.agent.config))
    checkPlainAgentConfig(label, args.agent.config as GatewayAgentConfig, {
      ...agentParts(args.agent),
      listenPort,
      healthPort,
    });
  checkGatewayKeyArgs(label, args.key, args.maxKeyAgeDays);

  const serviceAccountId = args.serviceAccountId ?? defaultServiceAccountId(name);
  if (typeof serviceAccountId !== 'string' || !/^[a-z][-a-z0-9]{4,28}[a-z0-9]$/.test(serviceAccountId)) {
    fail(
      component,
      name,
      `serviceAccountId must be 6 to 30 lowercase letters, digits and hyphens, starting with a letter, got ${JSON.stringify(serviceAccountId)}`,
    );
  }

  const loadBalanced = args.internalLoadBalancer === true || args.externalLoadBalancer === true;
  const activeStandby = args.activeStandby === true;
  if (activeStandby && !loadBalanced) {
    fail(
      component,
      name,
      'activeStandby needs a load balancer (internalLoadBalancer: true, or a GcpGatewayGroup): routes to instances have no health checks',
    );
  }
  if (activeStandby && instanceCount > args.zones.length) {
    fail(
      component,
      name,
      `activeStandby takes at most one instance per zone (the first zone's is the primary), got ${instanceCount} instances in ${args.zones.length} zones`,
    );
  }
  const healthCheckRanges = [
    ...new Set([
      ...(args.internalLoadBalancer ? GOOGLE_HEALTH_CHECK_RANGES : []),
      ...(args.externalLoadBalancer ? NETWORK_LB_HEALTH_CHECK_RANGES : []),
    ]),
  ].sort();

  return {
    region,
    instanceCount,
    listenPort,
    healthPort,
    routePriority,
    machineType,
    bootDiskSizeGb,
    externalAddresses: args.externalAddresses ?? true,
    loadBalanced,
    healthCheckRanges,
    serviceAccountId,
    activeStandby,
  };
}

/** The region of the zones (all in one). */
function regionOfZones(component: string, name: string, zones: string[]): string {
  if (!Array.isArray(zones) || zones.length === 0)
    fail(component, name, 'zones must list at least one zone (e.g. ["europe-west1-b"])');
  const regions = new Set<string>();
  for (const zone of zones) {
    const region = typeof zone === 'string' ? regionOfZone(zone) : undefined;
    if (!region) fail(component, name, `zones: "${String(zone)}" is not a zone name (e.g. europe-west1-b)`);
    regions.add(region);
  }
  if (new Set(zones).size !== zones.length) fail(component, name, 'zones: a zone is listed twice');
  if (regions.size > 1)
    fail(component, name, `zones must all be in one region (the subnetwork's), got ${[...regions].join(', ')}`);
  return [...regions][0]!;
}

/** The network: exactly one of network + subnetwork (bring your own) and createNetwork. */
function checkNetworkChoice(component: string, name: string, args: GcpGatewayArgs): void {
  const missing = (value: unknown): boolean => value === undefined || value === null || value === '';
  if (args.createNetwork !== undefined && args.createNetwork !== null) {
    if (!missing(args.network) || !missing(args.subnetwork)) {
      fail(
        component,
        name,
        'give either network and subnetwork (bring your own VPC) or createNetwork (a network the gateway creates), not both',
      );
    }
    const cidr = typeof args.createNetwork === 'object' ? args.createNetwork.cidr : undefined;
    const parsed = typeof cidr === 'string' ? parseIpv4Cidr(cidr) : undefined;
    if (!parsed || parsed.prefixLength < 8 || parsed.prefixLength > 29) {
      fail(
        component,
        name,
        `createNetwork.cidr must be an IPv4 CIDR from /8 to /29 with its host bits zero (e.g. 10.40.0.0/24), got ${JSON.stringify(cidr)}`,
      );
    }
  } else if (missing(args.network) && missing(args.subnetwork)) {
    fail(
      component,
      name,
      'give network and subnetwork (bring your own VPC) or createNetwork: { cidr } (a network the gateway creates)',
    );
  } else {
    if (missing(args.network))
      fail(
        component,
        name,
        'network is required (bring your own VPC) with subnetwork, or give createNetwork instead of both',
      );
    if (missing(args.subnetwork))
      fail(
        component,
        name,
        'subnetwork is required (bring your own VPC) with network, or give createNetwork instead of both',
      );
  }
}

/** Who may reach WireGuard, what is routed, what is forwarded. */
function checkRanges(component: string, name: string, args: GcpGatewayArgs): void {
  if (args.allowFromAnywhere !== undefined && typeof args.allowFromAnywhere !== 'boolean')
    fail(component, name, 'allowFromAnywhere must be a boolean');
  if (args.allowFromAnywhere) {
    if ((args.peerCidrs ?? []).length > 0) {
      fail(
        component,
        name,
        'pass either peerCidrs or allowFromAnywhere: true, not both (allowFromAnywhere opens the port to 0.0.0.0/0)',
      );
    }
  } else {
    if (args.peerCidrs === undefined || (Array.isArray(args.peerCidrs) && args.peerCidrs.length === 0)) {
      fail(
        component,
        name,
        'peerCidrs must list where peers connect from (or set allowFromAnywhere: true to open the WireGuard port to 0.0.0.0/0)',
      );
    }
    checkCidrList(component, name, 'peerCidrs', args.peerCidrs, {
      defaultHint: 'set allowFromAnywhere: true to open the WireGuard port to everyone',
    });
  }

  if (args.remoteCidrs === undefined)
    fail(component, name, "remoteCidrs must list the remote sites' prefixes to route to the gateway");
  checkCidrList(component, name, 'remoteCidrs', args.remoteCidrs, {
    defaultHint: 'a default route through the gateway is not supported',
  });
  if (args.forwardFromCidrs !== undefined) {
    checkCidrList(component, name, 'forwardFromCidrs', args.forwardFromCidrs, {
      allowEmpty: true,
      defaultHint: 'list the local ranges that send through the gateway',
    });
  }
}
