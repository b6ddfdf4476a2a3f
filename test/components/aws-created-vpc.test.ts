/**
 * components/aws/gateway.ts with `createNetwork` (a VPC the gateway creates) under mocks: the VPC, the
 * internet gateway, one public subnet and one route table per AZ (0.0.0.0/0 to the internet
 * gateway, associated with its subnet); the ENIs in those subnets and the remote-CIDR routes in
 * those route tables; the health port open to the VPC's block without a lookup; the subnet carving;
 * the checks for both / neither of vpcId+subnets and createNetwork; providers reach the new resources.
 */
import * as aws from '@pulumi/aws';
import { AwsGateway } from '../../components/aws/gateway';
import type { AwsGatewayArgs } from '../../components/aws/gateway-args';
import { AwsGatewayGroup, type AwsGatewayGroupArgs } from '../../components/aws/gateway-group';
import { awsMockOptions } from '../../components/aws/testing';
import { resolve, setupMocks, type MockRecorder, type RecordedResource } from '../../components/testing';
import { agentConfig } from './aws-support';

function createdArgs(overrides: Partial<AwsGatewayArgs> = {}): AwsGatewayArgs {
  return {
    siteName: 'site-a',
    createNetwork: { cidr: '10.40.0.0/16', availabilityZones: ['eu-west-1a'] },
    remoteCidrs: ['10.20.0.0/16', '10.30.0.0/16'],
    peerCidrs: ['203.0.113.7/32'],
    agent: { package: 'wiremesh@0.1.0', config: agentConfig },
    ...overrides,
  };
}

const T = {
  vpc: 'aws:ec2/vpc:Vpc',
  igw: 'aws:ec2/internetGateway:InternetGateway',
  subnet: 'aws:ec2/subnet:Subnet',
  routeTable: 'aws:ec2/routeTable:RouteTable',
  route: 'aws:ec2/route:Route',
  association: 'aws:ec2/routeTableAssociation:RouteTableAssociation',
  eni: 'aws:ec2/networkInterface:NetworkInterface',
  eip: 'aws:ec2/eip:Eip',
  instance: 'aws:ec2/instance:Instance',
  sg: 'aws:ec2/securityGroup:SecurityGroup',
};

async function build(
  overrides: Partial<AwsGatewayArgs> = {},
  opts = {},
): Promise<{ mocks: MockRecorder; gateway: AwsGateway }> {
  const mocks = setupMocks(awsMockOptions());
  const gateway = new AwsGateway('site-a', createdArgs(overrides), opts);
  await resolve(gateway.endpoints);
  await resolve(gateway.vpcId);
  await mocks.settle();
  return { mocks, gateway };
}

const byName = (resources: RecordedResource[]) =>
  [...resources].sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }));

describe('AwsGateway with a created VPC', () => {
  test('creates the VPC, the internet gateway, and per AZ a public subnet and a route table to the internet gateway', async () => {
    const { mocks, gateway } = await build();
    const root = mocks.one('wiremesh:aws:AwsGateway');
    const vpc = mocks.one(T.vpc, 'site-a-vpc');
    expect(vpc.inputs).toMatchObject({ cidrBlock: '10.40.0.0/16', enableDnsSupport: true, enableDnsHostnames: true });
    expect(vpc.inputs.tags).toMatchObject({ 'wiremesh:site': 'site-a' });
    expect(await resolve(gateway.vpcId)).toBe(vpc.id);
    const igw = mocks.one(T.igw, 'site-a-igw');
    expect(igw.inputs.vpcId).toBe(vpc.id);

    const subnets = byName(mocks.byType(T.subnet));
    expect(
      subnets.map((s) => [
        s.name,
        s.inputs.vpcId,
        s.inputs.cidrBlock,
        s.inputs.availabilityZone,
        s.inputs.mapPublicIpOnLaunch,
      ]),
    ).toEqual([['site-a-subnet-0', vpc.id, '10.40.0.0/24', 'eu-west-1a', false]]);
    const tables = byName(mocks.byType(T.routeTable));
    expect(tables.map((t) => [t.name, t.inputs.vpcId])).toEqual([['site-a-rt-0', vpc.id]]);
    // 0.0.0.0/0 -> the internet gateway in each table, and each table associated with its subnet.
    const defaults = byName(mocks.byType(T.route).filter((r) => r.inputs.destinationCidrBlock === '0.0.0.0/0'));
    expect(
      defaults.map((r) => [r.name, r.inputs.routeTableId, r.inputs.gatewayId, r.inputs.networkInterfaceId]),
    ).toEqual([['site-a-rt-0-default', tables[0]!.id, igw.id, undefined]]);
    expect(byName(mocks.byType(T.association)).map((a) => [a.name, a.inputs.subnetId, a.inputs.routeTableId])).toEqual([
      ['site-a-rta-0', subnets[0]!.id, tables[0]!.id],
    ]);
    // Everything is a child of the gateway.
    for (const type of [T.vpc, T.igw, T.subnet, T.routeTable, T.route, T.association]) {
      for (const r of mocks.byType(type)) expect(`${r.name} ${r.parent}`).toBe(`${r.name} ${root.urn}`);
    }
    expect(gateway.network!.subnets).toHaveLength(1);
    expect(gateway.network!.routeTables).toHaveLength(1);
  });

  test('the instances run in the created subnets and the remote-CIDR routes land in the created route tables', async () => {
    const { mocks } = await build();
    const subnets = byName(mocks.byType(T.subnet));
    const tables = byName(mocks.byType(T.routeTable));
    const enis = byName(mocks.byType(T.eni));
    expect(enis.map((e) => [e.name, e.inputs.subnetId, e.inputs.sourceDestCheck])).toEqual([
      ['site-a-eni-0', subnets[0]!.id, false],
    ]);
    expect(mocks.byType(T.instance)).toHaveLength(1);
    const remote = byName(mocks.byType(T.route).filter((r) => r.inputs.destinationCidrBlock !== '0.0.0.0/0'));
    expect(
      remote.map((r) => [r.name, r.inputs.routeTableId, r.inputs.destinationCidrBlock, r.inputs.networkInterfaceId]),
    ).toEqual([
      ['site-a-route-0-0-10-20-0-0-16', tables[0]!.id, '10.20.0.0/16', enis[0]!.id],
      ['site-a-route-0-0-10-30-0-0-16', tables[0]!.id, '10.30.0.0/16', enis[0]!.id],
    ]);
  });

  test('the security group is in the created VPC, the health port open to its block, without a VPC lookup', async () => {
    const { mocks } = await build();
    const sg = mocks.one(T.sg);
    expect(sg.inputs.vpcId).toBe(mocks.one(T.vpc).id);
    const health = (sg.inputs.ingress as Array<Record<string, unknown>>).find((rule) => rule.protocol === 'tcp')!;
    expect(health.cidrBlocks).toEqual(['10.40.0.0/16']);
    expect(mocks.invokes.filter((i) => i.token === 'aws:ec2/getVpc:getVpc')).toEqual([]);
  });

  test('the Elastic IPs wait for the internet gateway, the instances for the internet routes', async () => {
    const { mocks } = await build();
    const igw = mocks.one(T.igw);
    for (const eip of mocks.byType(T.eip)) expect(eip.dependencies).toContain(igw.urn);
    const defaults = mocks.byType(T.route).filter((r) => r.inputs.destinationCidrBlock === '0.0.0.0/0');
    const associations = mocks.byType(T.association);
    for (const instance of mocks.byType(T.instance)) {
      for (const needed of [igw, ...defaults, ...associations]) expect(instance.dependencies).toContain(needed.urn);
    }
  });

  test('a provider passed in options reaches the created network too', async () => {
    const mocks = setupMocks(awsMockOptions());
    const provider = new aws.Provider('euw1', { region: 'eu-west-1' });
    const gateway = new AwsGateway('site-a', createdArgs(), { providers: [provider] });
    await resolve(gateway.endpoints);
    await mocks.settle();
    const created = [T.vpc, T.igw, T.subnet, T.routeTable, T.route, T.association].flatMap((type) =>
      mocks.byType(type),
    );
    expect(created).toHaveLength(1 + 1 + 1 + 1 + 1 + 2 + 1);
    for (const r of created)
      expect(`${r.name} ${r.provider}`).toMatch(new RegExp(`^${r.name} .*::pulumi:providers:aws::euw1::`));
  });
});

describe('AwsGateway VPC argument checks', () => {
  let mocks: MockRecorder;
  beforeEach(() => {
    mocks = setupMocks(awsMockOptions());
  });
  const label = 'AwsGateway "gw"';
  const byo = { vpcId: 'vpc-0a', subnets: [{ subnetId: 'subnet-a' }] };

  test.each<[string, Partial<AwsGatewayArgs>, string]>([
    [
      'network with vpcId and subnets',
      byo,
      `${label}: give either vpcId and subnets (bring your own VPC) or createNetwork (a VPC the gateway creates), not both`,
    ],
    [
      'network with vpcId',
      { vpcId: 'vpc-0a' },
      `${label}: give either vpcId and subnets (bring your own VPC) or createNetwork (a VPC the gateway creates), not both`,
    ],
    [
      'network with subnets',
      { subnets: byo.subnets },
      `${label}: give either vpcId and subnets (bring your own VPC) or createNetwork (a VPC the gateway creates), not both`,
    ],
    [
      'neither network nor vpcId and subnets',
      { createNetwork: undefined },
      `${label}: give vpcId and subnets (bring your own VPC) or createNetwork: { cidr, availabilityZones } (a VPC the gateway creates)`,
    ],
    [
      'subnets without vpcId',
      { createNetwork: undefined, subnets: byo.subnets },
      `${label}: vpcId is required with subnets (or give createNetwork instead of both, for a VPC the gateway creates)`,
    ],
    [
      'vpcId without subnets',
      { createNetwork: undefined, vpcId: 'vpc-0a' },
      `${label}: subnets must list at least one subnet (one gateway instance runs in each)`,
    ],
    [
      'an IPv6 VPC block',
      { createNetwork: { cidr: 'fd00::/56', availabilityZones: ['eu-west-1a'] } },
      `${label}: createNetwork.cidr must be an IPv4 block from /16 to /28 (a VPC's size), got "fd00::/56"`,
    ],
    [
      'a /8 VPC block',
      { createNetwork: { cidr: '10.0.0.0/8', availabilityZones: ['eu-west-1a'] } },
      `${label}: createNetwork.cidr must be an IPv4 block from /16 to /28 (a VPC's size), got "10.0.0.0/8"`,
    ],
    [
      'host bits in the VPC block',
      { createNetwork: { cidr: '10.40.0.1/16', availabilityZones: ['eu-west-1a'] } },
      `${label}: createNetwork.cidr "10.40.0.1/16" has host bits set`,
    ],
    [
      'no availability zones',
      { createNetwork: { cidr: '10.40.0.0/16', availabilityZones: [] } },
      `${label}: createNetwork.availabilityZones must list at least one availability zone`,
    ],
    [
      'a repeated zone',
      { createNetwork: { cidr: '10.40.0.0/16', availabilityZones: ['eu-west-1a', 'eu-west-1a'] } },
      `${label}: createNetwork.availabilityZones[1] repeats createNetwork.availabilityZones[0] (eu-west-1a)`,
    ],
    [
      'a region as a zone',
      { createNetwork: { cidr: '10.40.0.0/16', availabilityZones: ['eu-west-1'] } },
      `${label}: createNetwork.availabilityZones[0] must be an availability zone name (e.g. eu-west-1a), got "eu-west-1"`,
    ],
    [
      'a block too small for its zones',
      { createNetwork: { cidr: '10.40.0.0/28', availabilityZones: ['eu-west-1a', 'eu-west-1b'] } },
      `${label}: createNetwork.cidr 10.40.0.0/28 is too small for 2 subnets of at least /28; use a larger block`,
    ],
  ])('refuses %s', async (_what, overrides, message) => {
    expect(() => new AwsGateway('gw', createdArgs(overrides))).toThrow(message);
    await mocks.settle();
    expect(mocks.resources.filter((r) => r.custom)).toEqual([]);
  });

  test('AwsGatewayGroup refuses createNetwork (bring your own VPC there)', async () => {
    const args = { ...createdArgs(), vpcId: undefined, subnets: undefined } as unknown as AwsGatewayGroupArgs;
    expect(() => new AwsGatewayGroup('gw', args)).toThrow(
      'AwsGatewayGroup "gw": createNetwork (a created VPC) is for AwsGateway only; give the group vpcId and subnets',
    );
    await mocks.settle();
  });
});
