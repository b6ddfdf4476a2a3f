/**
 * The firewall rules of a GcpGateway (ingress, targeted at the gateway's service account, never at
 * the whole network): UDP `listenPort` from `peerCidrs` only (`0.0.0.0/0` only with
 * `allowFromAnywhere`); TCP `healthPort` from Google's probe ranges only when a load balancer
 * probes it; all traffic from `forwardFromCidrs` when given. Without the last, forwarded traffic
 * needs a rule of your own (a custom VPC denies ingress by default). No SSH rule.
 */
import * as gcp from '@pulumi/gcp';
import type * as pulumi from '@pulumi/pulumi';

/** The rules' names, ports and sources (pure: which rules exist and what they allow). */
export interface FirewallRule {
  name: string;
  description: string;
  allows: gcp.types.input.compute.FirewallAllow[];
  sourceRanges: string[];
}

export function gatewayFirewallRules(
  name: string,
  ports: { listenPort: number; healthPort: number },
  sources: { peerCidrs: string[]; allowFromAnywhere: boolean; healthCheckRanges: string[]; forwardFromCidrs: string[] },
): FirewallRule[] {
  const rules: FirewallRule[] = [
    {
      name: `${name}-wg`,
      description: `wiremesh gateway ${name}: WireGuard UDP ${ports.listenPort} from its peers`,
      allows: [{ protocol: 'udp', ports: [String(ports.listenPort)] }],
      sourceRanges: sources.allowFromAnywhere ? ['0.0.0.0/0'] : [...sources.peerCidrs],
    },
  ];
  if (sources.healthCheckRanges.length > 0) {
    rules.push({
      name: `${name}-health`,
      description: `wiremesh gateway ${name}: agent health port TCP ${ports.healthPort} from Google health checks`,
      allows: [{ protocol: 'tcp', ports: [String(ports.healthPort)] }],
      sourceRanges: sources.healthCheckRanges,
    });
  }
  if (sources.forwardFromCidrs.length > 0) {
    rules.push({
      name: `${name}-fwd`,
      description: `wiremesh gateway ${name}: traffic forwarded through the gateway to the remote sites`,
      allows: [{ protocol: 'all' }],
      sourceRanges: [...sources.forwardFromCidrs],
    });
  }
  return rules;
}

/** The rules as resources, each targeted at the gateway's service account. */
export function createFirewalls(
  rules: FirewallRule[],
  project: pulumi.Input<string> | undefined,
  network: pulumi.Input<string>,
  serviceAccountEmail: pulumi.Input<string>,
  parent: pulumi.Resource,
): gcp.compute.Firewall[] {
  return rules.map(
    (rule) =>
      new gcp.compute.Firewall(
        rule.name,
        {
          project,
          network,
          description: rule.description,
          direction: 'INGRESS',
          priority: 1000,
          allows: rule.allows,
          sourceRanges: rule.sourceRanges,
          targetServiceAccounts: [serviceAccountEmail],
        },
        { parent },
      ),
  );
}
