/**
 * The boot lab's EC2 API and NLB health checks (lab/boot/services/ec2.ts, nlb.ts), on loopback:
 * - the agent's own EC2 client (agent/gateway/failover/ec2-routes.ts: the AWS SDK, credentials from
 *   the lab's IMDSv2) reads and moves a group's routes; the lab applies each move; a route table the
 *   role's policy does not name gets UnauthorizedOperation, a bad signature AuthFailure;
 * - target health follows the target group's thresholds and fails open, and a check passes only on
 *   the matcher's status from the path (a real HTTP server answering 200 / 503).
 */
import { DescribeRouteTablesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { Ec2GroupRoutes } from '../../agent/gateway/failover/ec2-routes';
import { Ec2Api } from '../../lab/boot/services/ec2';
import { ec2MetadataHandler } from '../../lab/boot/services/metadata';
import { checkTarget, dnatRule, TargetGroupHealth } from '../../lab/boot/services/nlb';
import type { World } from '../../lab/boot/services/world';
import { serve, useImdsCredentials } from './loopback-services';

const REGION = 'eu-west-1';
const TABLE = (id: string) => `arn:aws:ec2:${REGION}:123456789012:route-table/${id}`;
const identity = {
  instanceId: 'i-0lab000000000001',
  privateIp: '127.0.0.1',
  region: REGION,
  availabilityZone: `${REGION}a`,
  roleName: 'group-role',
  secretAccessKey: 'lab-secret-access-key',
  sessionToken: 'lab-session-token',
  readableSecretArns: [],
  readableObjectArns: [],
};
const world: World = {
  awsInstances: [
    {
      ...identity,
      name: 'member-1',
      accessKeyId: 'ASIALABTESTKEY000003',
      replaceableRouteTableArns: [TABLE('rtb-a'), TABLE('rtb-b')],
      describesRouteTables: true,
    },
  ],
  gcpInstances: [],
  awsSecrets: [],
  gcpSecrets: [],
  artifacts: [],
  routeTables: ['rtb-a', 'rtb-b', 'rtb-other'].map((id) => ({
    id,
    site: 'hub',
    routes: [{ destination: '10.30.0.0/16', networkInterfaceId: 'eni-0active' }],
  })),
  networkInterfaces: [
    { id: 'eni-0active', privateIp: '10.0.1.10', instanceId: 'i-0lab000000000000' },
    { id: 'eni-0standby', privateIp: '10.0.2.10', instanceId: 'i-0lab000000000001' },
  ],
};

describe('EC2 DescribeRouteTables / ReplaceRoute through the agent’s EC2 client', () => {
  const applied: string[] = [];
  let api: Ec2Api;
  let endpoint: string;

  beforeAll(async () => {
    const imds = await serve(ec2MetadataHandler(world.awsInstances));
    api = new Ec2Api(
      world,
      REGION,
      async (table, destination, via) => void applied.push(`${table} ${destination} via ${via}`),
    );
    endpoint = await serve(api.handler());
    useImdsCredentials(imds);
  });

  const members = [
    { networkInterfaceId: 'eni-0active', address: '10.0.1.10' },
    { networkInterfaceId: 'eni-0standby', address: '10.0.2.10' },
  ];
  const routes = (routeTableIds: string[]) =>
    new Ec2GroupRoutes({
      provider: 'aws-ec2',
      region: REGION,
      endpoint,
      members,
      routeTableIds,
      destinations: ['10.30.0.0/16'],
    });

  test('reads where the routes point, moves them, and the lab applies each move', async () => {
    const group = routes(['rtb-a', 'rtb-b']);
    expect(await group.targets()).toEqual(['eni-0active', 'eni-0active']);
    await group.pointAt('eni-0standby');
    expect(await group.targets()).toEqual(['eni-0standby', 'eni-0standby']);
    expect(applied.sort()).toEqual(['rtb-a 10.30.0.0/16 via 10.0.2.10', 'rtb-b 10.30.0.0/16 via 10.0.2.10']);
    expect(api.changes.map((c) => [c.routeTableId, c.from, c.to, c.by])).toEqual(
      expect.arrayContaining([
        ['rtb-a', 'eni-0active', 'eni-0standby', 'member-1'],
        ['rtb-b', 'eni-0active', 'eni-0standby', 'member-1'],
      ]),
    );
  });

  test("a route table the role's policy does not name: UnauthorizedOperation, nothing moved", async () => {
    const before = applied.length;
    await expect(routes(['rtb-other']).pointAt('eni-0standby')).rejects.toThrow(/UnauthorizedOperation/);
    expect(applied).toHaveLength(before);
    expect(api.routeTables().find((t) => t.id === 'rtb-other')!.routes[0]!.networkInterfaceId).toBe('eni-0active');
    expect(api.calls.at(-1)).toMatchObject({ action: 'ReplaceRoute', status: 403, error: 'UnauthorizedOperation' });
  });

  test('a missing route table, and a request signed with the wrong key, are refused', async () => {
    await expect(routes(['rtb-missing']).targets()).rejects.toThrow(/InvalidRouteTableID\.NotFound/);
    const client = new EC2Client({
      region: REGION,
      endpoint,
      credentials: { accessKeyId: 'ASIALABTESTKEY000003', secretAccessKey: 'wrong', sessionToken: 'lab-session-token' },
    });
    await expect(client.send(new DescribeRouteTablesCommand({ RouteTableIds: ['rtb-a'] }))).rejects.toMatchObject({
      name: 'AuthFailure',
    });
  });
});

describe('NLB target health', () => {
  test('healthy after the first pass, unhealthy after the threshold of failures, back after the healthy threshold', () => {
    const health = new TargetGroupHealth(['a', 'b'], { healthyThreshold: 2, unhealthyThreshold: 2 });
    expect(health.routable()).toEqual({ targets: ['a', 'b'], failOpen: true });
    health.record('a', true);
    health.record('b', false);
    expect(health.routable()).toEqual({ targets: ['a'], failOpen: false });
    health.record('a', false);
    expect(health.stateOf('a')).toBe('healthy');
    health.record('a', false);
    health.record('b', false);
    expect(health.snapshot()).toEqual({ a: 'unhealthy', b: 'unhealthy' });
    expect(health.routable()).toEqual({ targets: ['a', 'b'], failOpen: true });
    health.record('b', true);
    expect(health.stateOf('b')).toBe('unhealthy');
    health.record('b', true);
    expect(health.routable()).toEqual({ targets: ['b'], failOpen: false });
  });

  test('an HTTP check passes on the matcher status of its path only; a closed port fails', async () => {
    const base = await serve((request, response) => {
      response.writeHead(request.path === '/active' ? 200 : 503);
      response.end();
    });
    const port = Number(new URL(base).port);
    const check = {
      protocol: 'HTTP' as const,
      port,
      matcher: '200',
      intervalSeconds: 10,
      timeoutSeconds: 1,
      healthyThreshold: 2,
      unhealthyThreshold: 2,
    };
    expect(await checkTarget('127.0.0.1', { ...check, path: '/active' })).toBe(true);
    expect(await checkTarget('127.0.0.1', { ...check, path: '/healthz' })).toBe(false);
    expect(await checkTarget('127.0.0.1', { ...check, protocol: 'TCP' })).toBe(true);
    expect(await checkTarget('127.0.0.1', { ...check, port: 1, path: '/active' })).toBe(false);
  });

  test('the DNAT chain hashes UDP flows over the routable targets', () => {
    expect(dnatRule('t', 'nlb0', ['10.0.2.10'])).toBe('flush chain ip t nlb0\nadd rule ip t nlb0 dnat to 10.0.2.10\n');
    expect(dnatRule('t', 'nlb0', ['10.0.1.10', '10.0.2.10'])).toContain(
      'dnat to jhash ip saddr . udp sport . ip daddr . udp dport mod 2 map { 0 : 10.0.1.10, 1 : 10.0.2.10 }',
    );
  });
});
