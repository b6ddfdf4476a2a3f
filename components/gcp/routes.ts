/**
 * Routes to the remote sites (`remoteCidrs`) of a GcpGateway:
 * - default: one `gcp.compute.Route` per remote CIDR per instance (`nextHopInstance`), all with the
 *   same priority, so the VPC spreads flows over the instances (ECMP; no health awareness);
 * - `internalLoadBalancer: true`: an internal passthrough NLB (L3_DEFAULT forwarding rule over a
 *   backend service of per-zone unmanaged instance groups, HTTP check of `/ready` on `healthPort`) and
 *   one route per remote CIDR with `nextHopIlb` pointing at it (health-checked).
 */
import * as gcp from '@pulumi/gcp';
import type * as pulumi from '@pulumi/pulumi';
import { cidrSlug } from '../names';
import { ACTIVE_STANDBY_FAILOVER_POLICY, agentHealthCheckArgs, loadBalancerBackends } from './load-balancer';

/** One route: its resource name, destination and description (pure). */
export interface RouteSpec {
  name: string;
  destRange: string;
  description: string;
  /** The instance index of the next hop; undefined: the internal load balancer. */
  instance?: number;
}

export function gatewayRouteSpecs(
  name: string,
  remoteCidrs: string[],
  instanceCount: number,
  internalLoadBalancer: boolean,
): RouteSpec[] {
  if (internalLoadBalancer) {
    return remoteCidrs.map((cidr) => ({
      name: `${name}-ilb-r-${cidrSlug(cidr)}`,
      destRange: cidr,
      description: `wiremesh: ${cidr} via gateway ${name} (internal LB)`,
    }));
  }
  return Array.from({ length: instanceCount }, (_, i) =>
    remoteCidrs.map((cidr) => ({
      name: `${name}-r${i}-${cidrSlug(cidr)}`,
      destRange: cidr,
      description: `wiremesh: ${cidr} via gateway ${name} instance ${i}`,
      instance: i,
    })),
  ).flat();
}

/** What the internal load balancer sits in. */
export interface InternalLoadBalancerPlacement {
  project: pulumi.Input<string> | undefined;
  region: string;
  network: pulumi.Input<string>;
  subnetwork: pulumi.Input<string>;
  healthPort: number;
  activeStandby: boolean;
}

/** The internal passthrough NLB over the instance groups: health check, backend service, forwarding rule. */
export function createInternalLoadBalancer(
  name: string,
  at: InternalLoadBalancerPlacement,
  groups: gcp.compute.InstanceGroup[],
  parent: pulumi.Resource,
): gcp.compute.ForwardingRule {
  const healthCheck = new gcp.compute.RegionHealthCheck(
    `${name}-ilb-hc`,
    agentHealthCheckArgs(at.project, at.region, `wiremesh gateway ${name}: agent health port`, at.healthPort),
    { parent },
  );
  const backendService = new gcp.compute.RegionBackendService(
    `${name}-ilb`,
    {
      project: at.project,
      region: at.region,
      description: `wiremesh gateway ${name}: next hop to the remote sites`,
      loadBalancingScheme: 'INTERNAL',
      protocol: 'UNSPECIFIED',
      healthChecks: healthCheck.id,
      backends: loadBalancerBackends(groups, at.activeStandby),
      ...(at.activeStandby ? { failoverPolicy: ACTIVE_STANDBY_FAILOVER_POLICY } : {}),
    },
    { parent },
  );
  return new gcp.compute.ForwardingRule(
    `${name}-ilb-fr`,
    {
      project: at.project,
      region: at.region,
      description: `wiremesh gateway ${name}: next hop to the remote sites`,
      loadBalancingScheme: 'INTERNAL',
      ipProtocol: 'L3_DEFAULT',
      allPorts: true,
      backendService: backendService.id,
      network: at.network,
      subnetwork: at.subnetwork,
    },
    { parent },
  );
}

/** The routes as resources: `common` (project, network, priority, tags) and the next hop of each. */
export function createGatewayRoutes(
  specs: RouteSpec[],
  common: Pick<gcp.compute.RouteArgs, 'project' | 'network' | 'priority' | 'tags'>,
  nextHop: (instance: number | undefined) => Pick<gcp.compute.RouteArgs, 'nextHopIlb' | 'nextHopInstance'>,
  parent: pulumi.Resource,
): gcp.compute.Route[] {
  return specs.map(
    (route) =>
      new gcp.compute.Route(
        route.name,
        { ...common, destRange: route.destRange, ...nextHop(route.instance), description: route.description },
        { parent },
      ),
  );
}
