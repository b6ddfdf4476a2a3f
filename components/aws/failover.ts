/**
 * Automatic failover of an AwsGatewayGroup, done by the agents (agent/gateway/failover/): the
 * group's one document gets a `failover` section naming every member (its ENI and private
 * address), the group's route tables and the remote CIDRs, and the gateway role may call
 * ec2:ReplaceRoute on exactly those route tables. DescribeRouteTables supports no resource-level
 * permissions (the EC2 service authorization reference lists no resource type for it), so it is
 * granted on "*"; it reads only.
 *
 * Pure parts (the section, the policy, the ARNs) are separate from the one resource made here.
 */
import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import type { FailoverConfig, FailoverMember } from '../../agent/gateway/config-types';
import { ComponentArgumentError, describe } from '../errors';

/** The `failover` argument of AwsGatewayGroup: how fast a standby takes over. */
export interface AwsGroupFailoverArgs {
  /** Seconds between the members' probes of each other's /healthz, 1 to 60; default 2. */
  probeIntervalSeconds?: number;
  /** Failed probes in a row before the active counts as down, 1 to 20; default 3. */
  failedProbes?: number;
  /** Seconds between reads of the route tables, 1 to 3600; default 10. */
  routeCheckSeconds?: number;
}

const LIMITS: Record<keyof AwsGroupFailoverArgs, [number, number]> = {
  probeIntervalSeconds: [1, 60],
  failedProbes: [1, 20],
  routeCheckSeconds: [1, 3600],
};

/** The settings checked: whole numbers in range, nothing else. */
export function checkedFailoverArgs(label: string, args: AwsGroupFailoverArgs): AwsGroupFailoverArgs {
  if (typeof args !== 'object' || args === null)
    throw new ComponentArgumentError(`${label}: failover must be an object or false`);
  for (const [field, value] of Object.entries(args)) {
    const limits = LIMITS[field as keyof AwsGroupFailoverArgs];
    if (!limits) throw new ComponentArgumentError(`${label}: failover.${field} is not a failover setting`);
    if (!Number.isInteger(value) || value < limits[0] || value > limits[1]) {
      throw new ComponentArgumentError(
        `${label}: failover.${field} must be a whole number from ${limits[0]} to ${limits[1]}, got ${describe(value)}`,
      );
    }
  }
  return args;
}

/** Partition, region and account of an EC2 ARN (e.g. an ENI's). */
export function arnParts(arn: string): { partition: string; region: string; account: string } {
  const [, partition, , region, account] = arn.split(':');
  if (!partition || !region || !account) throw new Error(`not a regional ARN: ${arn}`);
  return { partition, region, account };
}

/** The ARN of a route table in the ENI's partition, region and account. */
export function routeTableArn(networkInterfaceArn: string, routeTableId: string): string {
  const { partition, region, account } = arnParts(networkInterfaceArn);
  return `arn:${partition}:ec2:${region}:${account}:route-table/${routeTableId}`;
}

/** The agent document's section: the members in the group's order, the route tables, the destinations. */
export function failoverSection(
  region: string,
  members: FailoverMember[],
  routeTableIds: string[],
  destinations: string[],
  settings: AwsGroupFailoverArgs,
): FailoverConfig {
  return { provider: 'aws-ec2', region, members, routeTableIds, destinations, ...settings };
}

/** The least IAM the agents need: ReplaceRoute on exactly these route tables, DescribeRouteTables (no scoping exists). */
export function failoverPolicy(routeTableArns: string[]): string {
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      { Sid: 'MoveGroupRoutes', Effect: 'Allow', Action: 'ec2:ReplaceRoute', Resource: routeTableArns },
      { Sid: 'ReadRouteTables', Effect: 'Allow', Action: 'ec2:DescribeRouteTables', Resource: '*' },
    ],
  });
}

/** The role policy (`-failover`) of the group's gateway role. */
export function createFailoverPolicy(
  name: string,
  role: aws.iam.Role,
  networkInterfaceArn: pulumi.Input<string>,
  routeTableIds: pulumi.Input<string>[],
  parent: pulumi.Resource,
): aws.iam.RolePolicy {
  const policy = pulumi
    .all([networkInterfaceArn, pulumi.all(routeTableIds)])
    .apply(([arn, ids]) => failoverPolicy(ids.map((id) => routeTableArn(arn, id))));
  return new aws.iam.RolePolicy(`${name}-failover`, { role: role.id, policy }, { parent });
}
