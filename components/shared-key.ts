/**
 * The rules of a WireGuard identity that several instances share (AwsGatewayGroup,
 * GcpGatewayGroup), pure so that tests read them directly.
 *
 * A WireGuard peer keeps one session and one endpoint per public key. Behind an L4 load balancer,
 * several instances with one key are only correct when exactly one of them holds a peer's session
 * at any time (stickiness) or when they synchronize session state (wiremesh does not). wiremesh
 * groups are therefore active/standby: one active holder of the key, the others idle until
 * failover. Two consequences are fixed here:
 * - a shared-key document has no peer endpoints: no instance initiates (a standby that initiated
 *   from its own address would displace the active's session, and the peer would roam to it);
 *   the remote peers initiate to the group's load balancer address and the active answers;
 * - the VPC routes of every subnet point at the active instance (a standby that received traffic
 *   for the remote sites would hold no session to send it on).
 */
import type { GatewayAgentConfig } from './agent-config';

/** The document without `endpoint` on any peer (the group's instances never initiate). */
export function sharedKeyDocument(config: GatewayAgentConfig): GatewayAgentConfig {
  return { ...config, peers: (config.peers ?? []).map(({ endpoint: _endpoint, ...peer }) => peer) };
}

/** The index of the active instance of a group: the first (AWS: the first subnet; GCP: the first zone's). */
export const ACTIVE_INDEX = 0;

/**
 * Subnets with every route table moved to the active instance's subnet: a VPC route table has one
 * target per destination, and the target must be the one instance that holds the sessions. An ENI
 * of one AZ is a valid route target for route tables of every AZ of the VPC.
 */
export function routeTablesAtActive<S extends { routeTableIds?: R[] }, R>(subnets: readonly S[]): S[] {
  const all = subnets.flatMap((subnet) => subnet.routeTableIds ?? []);
  return subnets.map((subnet, i) => ({ ...subnet, routeTableIds: i === ACTIVE_INDEX ? all : [] }));
}
