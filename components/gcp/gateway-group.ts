/**
 * `GcpGatewayGroup` (`wiremesh:gcp:GcpGatewayGroup`): the load-balanced, highly available entry
 * point of a site on GCP.
 *
 * - One {@link GcpGateway} with `instanceCount` instances (default: two, or one per zone when more
 *   zones are given) spread over the zones. They share ONE key (peers pin one public key) and one
 *   configuration document, and one service account that can read exactly those two secrets.
 * - An external passthrough Network Load Balancer in front of every instance: a regional static
 *   address, a UDP forwarding rule on the WireGuard port, a regional backend service
 *   (`EXTERNAL`, `UDP`) over the gateway's per-zone instance groups, and an HTTP health check of
 *   `GET /ready` on the agent's health port (UDP cannot be health-checked). The gateway's health firewall rule is
 *   opened to the NLB probe ranges (35.191.0.0/16, 209.85.152.0/22, 209.85.204.0/22).
 * - Outputs: the LB address and the `ip:port` endpoint that peers put in their configuration.
 *
 * Behaviour to know:
 * - The NLB is passthrough with direct server return: packets reach an instance with the LB
 *   address as destination, and the reply must leave with it as source. The kernel WireGuard and
 *   wireguard-go planes answer from the address a peer wrote to; check that a userspace plane does
 *   too before using it behind the NLB.
 * - Active/standby, always (components/shared-key.ts, components/README.md "Gateway groups"):
 *   the first zone's instance is the primary backend of both the external NLB and the internal LB
 *   (`internalLoadBalancer` and `activeStandby` default to true, false is refused), the others are
 *   failover backends; every flow, both directions, goes through one instance at a time, so the
 *   shared key has one live session per peer. At most one instance per zone: give two zones or more.
 * - The shared document has no peer endpoints (the group removes them): no instance initiates, the
 *   peers dial the NLB address.
 * - Session affinity defaults to `CLIENT_IP`, so a peer whose NAT changes its source port stays on
 *   the same instance. Failing over to another instance drops the session until the peer's next
 *   handshake (up to the peer's keepalive plus a handshake; no shared session state).
 * - The `/ready` health check says the agent runs (interface up, document applied). Do not set
 *   `requiredPeers` in the agent's health: with a shared key only the instance holding a peer's
 *   session sees its handshakes, so the others would be reported down.
 */
import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';
import { GcpGateway } from './gateway';
import {
  MAX_GATEWAY_NAME_LENGTH,
  validateGcpGatewayArgs,
  type GcpGatewayArgs,
  type ValidatedGcpGatewayArgs,
} from './gateway-args';
import { ACTIVE_STANDBY_FAILOVER_POLICY, agentHealthCheckArgs, loadBalancerBackends } from './load-balancer';
import { validatedOnce } from '../validate-once';
import { fail } from '../errors';
import { checkComponentName } from './validation';
import { sharedKeyDocument } from '../shared-key';

const COMPONENT = 'GcpGatewayGroup';

/** Session affinity of the external NLB's backend service. */
export type GcpGatewayGroupSessionAffinity = 'NONE' | 'CLIENT_IP' | 'CLIENT_IP_PROTO' | 'CLIENT_IP_PORT_PROTO';

/** Arguments of {@link GcpGatewayGroup}: those of a gateway, plus the load balancer's. */
export interface GcpGatewayGroupArgs extends Omit<GcpGatewayArgs, 'externalLoadBalancer'> {
  /** Number of gateway instances; default `max(2, zones.length)` (2 to 16). */
  instanceCount?: number;
  /** The backend service's session affinity; default `CLIENT_IP`. */
  sessionAffinity?: GcpGatewayGroupSessionAffinity;
  /**
   * An existing regional external address (the IP, e.g. from a `gcp.compute.Address` you keep) for
   * the forwarding rule, so the endpoint survives rebuilding the group; default: a new static address.
   */
  loadBalancerAddress?: pulumi.Input<string>;
}

/**
 * An HA WireGuard entry point: gateways sharing one key behind an external passthrough NLB.
 *
 * ```ts
 * const group = new GcpGatewayGroup("site-b", {
 *   zones: ["europe-west1-b", "europe-west1-c"], network: vpc.id, subnetwork: subnet.id,
 *   peerCidrs: ["203.0.113.0/24"], remoteCidrs: ["10.10.0.0/16"], internalLoadBalancer: true,
 *   agent: { artifact: "wiremesh-0.1.0.tgz", config: { interface: { addresses: ["10.99.0.2/24"] }, peers: [...] } },
 * });
 * group.endpoint;  // "34.x.y.z:51820" for every peer
 * group.publicKey; // the one key of the group
 * ```
 */
export class GcpGatewayGroup extends pulumi.ComponentResource {
  /** The gateways (one identity, several instances). */
  public readonly gateway: GcpGateway;
  /** The group's public key. */
  public readonly publicKey: pulumi.Output<string>;
  /** The load balancer's external IP. */
  public readonly loadBalancerIp: pulumi.Output<string>;
  /** `ip:port` for the peers. */
  public readonly endpoint: pulumi.Output<string>;
  /** The static address (when the group created it). */
  public readonly address?: gcp.compute.Address;
  public readonly healthCheck: gcp.compute.RegionHealthCheck;
  public readonly backendService: gcp.compute.RegionBackendService;
  public readonly forwardingRule: gcp.compute.ForwardingRule;

  constructor(name: string, args: GcpGatewayGroupArgs, opts: pulumi.ComponentResourceOptions = {}) {
    // Validate before registering: a refused argument registers nothing.
    const { gatewayArgs: checkedArgs, sessionAffinity, v } = validateGcpGatewayGroupArgs(name, args);
    // The group checked its gateway's arguments under its own name: the gateway does not check them again.
    const { sessionAffinity: _affinity, loadBalancerAddress: _address, ...own } = args;
    const gatewayFullArgs = validateGcpGatewayArgs.seed(
      {
        ...own,
        agent: { ...own.agent, config: pulumi.output(own.agent.config).apply(sharedKeyDocument) },
        instanceCount: checkedArgs.instanceCount,
        internalLoadBalancer: checkedArgs.internalLoadBalancer,
        activeStandby: checkedArgs.activeStandby,
        externalLoadBalancer: true,
      },
      v,
    );
    super('wiremesh:gcp:GcpGatewayGroup', name, {}, opts);

    this.gateway = new GcpGateway(name, gatewayFullArgs, { parent: this });
    this.publicKey = this.gateway.publicKey;
    const project = args.project;

    let ip: pulumi.Input<string>;
    if (args.loadBalancerAddress !== undefined) {
      ip = args.loadBalancerAddress;
    } else {
      this.address = new gcp.compute.Address(
        `${name}-nlb-ip`,
        {
          project,
          region: v.region,
          addressType: 'EXTERNAL',
          networkTier: 'PREMIUM',
          description: `wiremesh gateway group ${name}: WireGuard endpoint`,
        },
        { parent: this },
      );
      ip = this.address.address;
    }
    this.healthCheck = new gcp.compute.RegionHealthCheck(
      `${name}-nlb-hc`,
      agentHealthCheckArgs(project, v.region, `wiremesh gateway group ${name}: agent health port`, v.healthPort),
      { parent: this },
    );
    this.backendService = new gcp.compute.RegionBackendService(
      `${name}-nlb`,
      {
        project,
        region: v.region,
        description: `wiremesh gateway group ${name}: WireGuard UDP ${v.listenPort}`,
        loadBalancingScheme: 'EXTERNAL',
        protocol: 'UDP',
        sessionAffinity,
        healthChecks: this.healthCheck.id,
        backends: loadBalancerBackends(this.gateway.instanceGroups, v.activeStandby),
        ...(v.activeStandby ? { failoverPolicy: ACTIVE_STANDBY_FAILOVER_POLICY } : {}),
      },
      { parent: this },
    );
    this.forwardingRule = new gcp.compute.ForwardingRule(
      `${name}-nlb-fr`,
      {
        project,
        region: v.region,
        description: `wiremesh gateway group ${name}: WireGuard UDP ${v.listenPort}`,
        loadBalancingScheme: 'EXTERNAL',
        ipProtocol: 'UDP',
        portRange: String(v.listenPort),
        ipAddress: ip,
        networkTier: 'PREMIUM',
        backendService: this.backendService.id,
      },
      { parent: this },
    );
    this.loadBalancerIp = this.forwardingRule.ipAddress;
    this.endpoint = pulumi.interpolate`${this.loadBalancerIp}:${v.listenPort}`;
    this.registerOutputs({ publicKey: this.publicKey, loadBalancerIp: this.loadBalancerIp, endpoint: this.endpoint });
  }
}

/** The checked arguments of a group: its gateway's (with the group's instance count and the external LB), its own. */
interface ValidatedGcpGatewayGroupArgs {
  /** The arguments checked for the gateway (the group's instance count, the external LB). */
  gatewayArgs: GcpGatewayArgs;
  sessionAffinity: GcpGatewayGroupSessionAffinity;
  v: ValidatedGcpGatewayArgs;
}

/** Every check of {@link GcpGatewayGroupArgs} (the gateway's under the group's name), once per arguments object. */
export const validateGcpGatewayGroupArgs = validatedOnce(
  (name: string, args: GcpGatewayGroupArgs): ValidatedGcpGatewayGroupArgs => {
    checkComponentName(COMPONENT, name, MAX_GATEWAY_NAME_LENGTH);
    if (typeof args !== 'object' || args === null) fail(COMPONENT, name, 'args are required');
    if ('externalLoadBalancer' in args) fail(COMPONENT, name, 'externalLoadBalancer is set by the group itself');
    const zones = Array.isArray(args.zones) ? args.zones : [];
    const instanceCount = args.instanceCount ?? Math.max(2, zones.length);
    if (!Number.isInteger(instanceCount) || instanceCount < 2) {
      fail(
        COMPONENT,
        name,
        `instanceCount must be at least 2 for a load-balanced group, got ${String(args.instanceCount)} (use GcpGateway for one instance)`,
      );
    }
    const sessionAffinity = args.sessionAffinity ?? 'CLIENT_IP';
    if (!['NONE', 'CLIENT_IP', 'CLIENT_IP_PROTO', 'CLIENT_IP_PORT_PROTO'].includes(sessionAffinity)) {
      fail(
        COMPONENT,
        name,
        `sessionAffinity must be NONE, CLIENT_IP, CLIENT_IP_PROTO or CLIENT_IP_PORT_PROTO, got ${JSON.stringify(sessionAffinity)}`,
      );
    }
    // One active holder of the shared key: the instances do not synchronize sessions.
    if (args.activeStandby === false)
      fail(
        COMPONENT,
        name,
        'activeStandby: false is refused: the instances share one key and no session state, so only one may be active (see components/README.md, "Gateway groups")',
      );
    if (args.internalLoadBalancer === false) {
      fail(
        COMPONENT,
        name,
        'internalLoadBalancer: false is refused: routes per instance would send traffic to standbys that hold no session; the internal LB follows the active instance',
      );
    }
    const { sessionAffinity: _affinity, loadBalancerAddress: _address, ...gatewayArgs } = args;
    const gatewayFullArgs: GcpGatewayArgs = {
      ...gatewayArgs,
      instanceCount,
      internalLoadBalancer: true,
      activeStandby: true,
      externalLoadBalancer: true,
    };
    // Same checks as the gateway's, reported under the group's name, before any child exists.
    const v = validateGcpGatewayArgs(COMPONENT, name, gatewayFullArgs);
    return { gatewayArgs: gatewayFullArgs, sessionAffinity, v };
  },
);
