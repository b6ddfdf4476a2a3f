/**
 * The passthrough load balancer pieces GcpGateway (internal LB, next hop of the routes) and
 * GcpGatewayGroup (external NLB, the peers' endpoint) share: per-zone instance groups, the TCP
 * health check on the agent's health port, backends and the active/standby failover policy.
 */
import * as gcp from '@pulumi/gcp';
import type * as pulumi from '@pulumi/pulumi';

/**
 * Failover policy of active/standby backend services: fail over as soon as the one primary
 * instance is unhealthy, without draining (UDP flows move at once), and keep forwarding to every
 * instance when all are down rather than dropping.
 */
export const ACTIVE_STANDBY_FAILOVER_POLICY = Object.freeze({
  failoverRatio: 1,
  disableConnectionDrainOnFailover: true,
  dropTrafficIfUnhealthy: false,
});

/** Backends of a passthrough LB over the gateway's instance groups (the first is primary when active/standby). */
export function loadBalancerBackends(
  groups: readonly gcp.compute.InstanceGroup[],
  activeStandby: boolean,
): gcp.types.input.compute.RegionBackendServiceBackend[] {
  return groups.map((group, i) => ({
    group: group.id,
    balancingMode: 'CONNECTION',
    ...(activeStandby ? { failover: i > 0 } : {}),
  }));
}

/**
 * One unmanaged instance group per zone in use (`<name>-ig-<zone letter>`), by zone, in first-use
 * order. The VMs join through memberships (gcp/instances.ts), so the groups and the backend
 * services over them do not wait for the VMs, and a VM's health gate can read a backend service.
 */
export function createInstanceGroups(
  name: string,
  project: pulumi.Input<string> | undefined,
  zones: string[],
  parent: pulumi.Resource,
): Map<string, gcp.compute.InstanceGroup> {
  return new Map(
    [...new Set(zones)].map((zone) => [
      zone,
      new gcp.compute.InstanceGroup(
        `${name}-ig-${zone.slice(zone.lastIndexOf('-') + 1)}`,
        // The network is the members' (passing a name here would not match a self link).
        { project, zone, description: `wiremesh gateway ${name} in ${zone}` },
        { parent },
      ),
    ]),
  );
}

/**
 * The HTTP health check of the agent's `GET /ready` on its health port (UDP cannot be
 * health-checked): 200 once the agent runs (interface up, configuration applied), whatever its
 * peers and its role, so a standby is a healthy failover backend; 503 (or no listener) while it
 * starts or cannot read its key, so a rolling replacement's gate waits for a VM that runs, not for
 * one whose port merely accepts connections.
 */
export function agentHealthCheckArgs(
  project: pulumi.Input<string> | undefined,
  region: string,
  description: string,
  healthPort: number,
): gcp.compute.RegionHealthCheckArgs {
  return {
    project,
    region,
    description,
    httpHealthCheck: { port: healthPort, requestPath: '/ready' },
    checkIntervalSec: 5,
    timeoutSec: 5,
    healthyThreshold: 2,
    unhealthyThreshold: 2,
  };
}
