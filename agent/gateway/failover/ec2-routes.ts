/**
 * The routes of a gateway group in EC2: DescribeRouteTables to see which network interface each
 * route targets, ReplaceRoute to point them all at this member's. Loaded only when the agent's
 * configuration has a `failover` section (the EC2 client is no part of an idle agent).
 */
import { DescribeRouteTablesCommand, EC2Client, ReplaceRouteCommand } from '@aws-sdk/client-ec2';
import { parsePrefix } from '../../../common/ip';
import { classifyAwsError } from '../../secrets/aws-errors';
import type { FailoverConfig } from '../config-types';

/** One route of the group: a destination in a route table. */
export interface GroupRoute {
  routeTableId: string;
  destination: string;
  family: 4 | 6;
}

/** What the failover runner needs from the cloud. */
export interface GroupRoutes {
  readonly routes: readonly GroupRoute[];
  /** The network interface each route targets, in `routes` order (null: missing or not at an interface). */
  targets(): Promise<Array<string | null>>;
  /** Points every route at `networkInterfaceId`. */
  pointAt(networkInterfaceId: string): Promise<void>;
}

export class RouteCallError extends Error {}

/** Every (route table, destination) pair of the section, tables outermost. */
export function groupRoutes(failover: Pick<FailoverConfig, 'routeTableIds' | 'destinations'>): GroupRoute[] {
  return failover.routeTableIds.flatMap((routeTableId) =>
    failover.destinations.map((destination) => ({
      routeTableId,
      destination,
      family: parsePrefix(destination).family,
    })),
  );
}

export class Ec2GroupRoutes implements GroupRoutes {
  readonly routes: readonly GroupRoute[];
  private readonly client: EC2Client;

  constructor(failover: FailoverConfig, requestTimeoutMs = 5000) {
    this.routes = groupRoutes(failover);
    this.client = new EC2Client({
      region: failover.region,
      endpoint: failover.endpoint,
      // The controller retries at its next probe; a silent SDK retry would only delay the takeover.
      maxAttempts: 1,
      requestHandler: {
        connectionTimeout: requestTimeoutMs,
        requestTimeout: requestTimeoutMs,
        throwOnRequestTimeout: true,
      },
    });
  }

  async targets(): Promise<Array<string | null>> {
    const tableIds = [...new Set(this.routes.map((route) => route.routeTableId))];
    const answer = await this.call('DescribeRouteTables', () =>
      this.client.send(new DescribeRouteTablesCommand({ RouteTableIds: tableIds })),
    );
    const tables = new Map((answer.RouteTables ?? []).map((table) => [table.RouteTableId, table.Routes ?? []]));
    return this.routes.map((route) => {
      const found = (tables.get(route.routeTableId) ?? []).find((candidate) =>
        route.family === 4
          ? candidate.DestinationCidrBlock === route.destination
          : candidate.DestinationIpv6CidrBlock === route.destination,
      );
      return found?.NetworkInterfaceId ?? null;
    });
  }

  async pointAt(networkInterfaceId: string): Promise<void> {
    await Promise.all(
      this.routes.map((route) =>
        this.call(`ReplaceRoute ${route.routeTableId} ${route.destination}`, () =>
          this.client.send(
            new ReplaceRouteCommand({
              RouteTableId: route.routeTableId,
              NetworkInterfaceId: networkInterfaceId,
              ...(route.family === 4
                ? { DestinationCidrBlock: route.destination }
                : { DestinationIpv6CidrBlock: route.destination }),
            }),
          ),
        ),
      ),
    );
  }

  private async call<T>(what: string, send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (error) {
      throw new RouteCallError(`EC2 ${what}: ${classifyAwsError(error).failure}`);
    }
  }
}
