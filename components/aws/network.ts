/**
 * A VPC an `AwsGateway` creates (`createNetwork` instead of `vpcId` and `subnets`): an `aws.ec2.Vpc`
 * (`-vpc`, DNS support and hostnames on) with an internet gateway (`-igw`); per availability zone
 * `i` a public subnet (`-subnet-i`, no public IPs on launch: the gateways have Elastic IPs) carved
 * from `createNetwork.cidr` (see {@link carveSubnetCidrs}), a route table (`-rt-i`) with 0.0.0.0/0
 * to the internet gateway (`-rt-i-default`) associated with that subnet (`-rta-i`). The gateway
 * then uses them as if those subnets and route tables had been passed.
 */
import * as aws from '@pulumi/aws';
import type * as pulumi from '@pulumi/pulumi';
import { AWS_TAG_ROLE } from '../../common/defaults';
import { ComponentArgumentError, describe } from '../errors';
import { checkCidr } from './validation';

/** A VPC the gateway creates instead of using one it is given. */
export interface AwsGatewayCreateNetworkArgs {
  /** The VPC's IPv4 CIDR block, /16 to /28; the subnets are carved from it. */
  cidr: string;
  /**
   * One public subnet per availability zone, in this order. A stand-alone AwsGateway is one instance,
   * so exactly one zone (several instances on one key are an AwsGatewayGroup, which needs your VPC).
   */
  availabilityZones: string[];
}

/** What a gateway created for `createNetwork`. */
export interface AwsGatewayNetwork {
  vpc: aws.ec2.Vpc;
  internetGateway: aws.ec2.InternetGateway;
  /** Per availability zone, in `createNetwork.availabilityZones` order. */
  subnets: aws.ec2.Subnet[];
  /** Per subnet: its route table (0.0.0.0/0 to the internet gateway, and the remote-CIDR routes). */
  routeTables: aws.ec2.RouteTable[];
  /** Per route table: the 0.0.0.0/0 route to the internet gateway. */
  defaultRoutes: aws.ec2.Route[];
  routeTableAssociations: aws.ec2.RouteTableAssociation[];
}

/** A checked `createNetwork`: the VPC's CIDR and, per availability zone, its subnet's CIDR. */
export interface CheckedNetwork {
  cidr: string;
  availabilityZones: string[];
  subnetCidrs: string[];
}

/** Checks `createNetwork` (a VPC to create). */
export function checkNetworkArgs(label: string, network: AwsGatewayCreateNetworkArgs): CheckedNetwork {
  if (typeof network !== 'object' || network === null) {
    throw new ComponentArgumentError(`${label}: createNetwork must be an object { cidr, availabilityZones }`);
  }
  const cidr = checkCidr(label, 'createNetwork.cidr', network.cidr);
  if (cidr.prefix.family !== 4 || cidr.prefix.bits < 16 || cidr.prefix.bits > 28) {
    throw new ComponentArgumentError(
      `${label}: createNetwork.cidr must be an IPv4 block from /16 to /28 (a VPC's size), got ${describe(network.cidr)}`,
    );
  }
  const zones = network.availabilityZones;
  if (!Array.isArray(zones) || zones.length === 0) {
    throw new ComponentArgumentError(
      `${label}: createNetwork.availabilityZones must list at least one availability zone (one subnet and gateway instance in each)`,
    );
  }
  zones.forEach((zone, i) => {
    if (typeof zone !== 'string' || !/^[a-z]{2}(-[a-z0-9]+)+[a-z]$/.test(zone)) {
      throw new ComponentArgumentError(
        `${label}: createNetwork.availabilityZones[${i}] must be an availability zone name (e.g. eu-west-1a), got ${describe(zone)}`,
      );
    }
    const first = zones.indexOf(zone);
    if (first !== i)
      throw new ComponentArgumentError(
        `${label}: createNetwork.availabilityZones[${i}] repeats createNetwork.availabilityZones[${first}] (${zone})`,
      );
  });
  const subnetCidrs = carveSubnetCidrs(cidr.text, zones.length);
  if (subnetCidrs === undefined) {
    throw new ComponentArgumentError(
      `${label}: createNetwork.cidr ${cidr.text} is too small for ${zones.length} subnets of at least /28; use a larger block`,
    );
  }
  return { cidr: cidr.text, availabilityZones: [...zones], subnetCidrs };
}

/**
 * The subnet CIDRs of a created VPC, one per AZ, in order: consecutive /24s from the start of the
 * VPC's block, or, when the block is too small for that, equal consecutive blocks just big enough
 * for `count` of them (a /24 VPC with 2 AZs: two /25s). Undefined when they would be smaller than
 * /28 (AWS's smallest subnet). Exported for tests.
 */
export function carveSubnetCidrs(vpcCidr: string, count: number): string[] | undefined {
  const [base, bitsText] = vpcCidr.split('/') as [string, string];
  const bits = Number(bitsText);
  const subnetBits = Math.max(24, bits + Math.ceil(Math.log2(Math.max(count, 1))));
  if (subnetBits > 28) return undefined;
  const start = base.split('.').reduce((acc, octet) => acc * 256 + Number(octet), 0);
  const size = 2 ** (32 - subnetBits);
  return Array.from({ length: count }, (_, i) => {
    const address = start + i * size;
    return `${[24, 16, 8, 0].map((shift) => Math.floor(address / 2 ** shift) % 256).join('.')}/${subnetBits}`;
  });
}

/** The VPC, internet gateway, per-AZ public subnets and route tables of a gateway's own VPC. */
export function createGatewayVpc(
  name: string,
  siteName: string,
  network: CheckedNetwork,
  tags: Record<string, pulumi.Input<string>>,
  parent: pulumi.Resource,
): AwsGatewayNetwork {
  const vpc = new aws.ec2.Vpc(
    `${name}-vpc`,
    {
      cidrBlock: network.cidr,
      enableDnsSupport: true,
      enableDnsHostnames: true,
      tags: { ...tags, [AWS_TAG_ROLE]: 'gateway-vpc', Name: `${siteName}-wiremesh` },
    },
    { parent },
  );
  const internetGateway = new aws.ec2.InternetGateway(
    `${name}-igw`,
    { vpcId: vpc.id, tags: { ...tags, [AWS_TAG_ROLE]: 'gateway-vpc', Name: `${siteName}-wiremesh` } },
    { parent },
  );
  const subnets: aws.ec2.Subnet[] = [];
  const routeTables: aws.ec2.RouteTable[] = [];
  const defaultRoutes: aws.ec2.Route[] = [];
  const routeTableAssociations: aws.ec2.RouteTableAssociation[] = [];
  network.availabilityZones.forEach((availabilityZone, i) => {
    const subnet = new aws.ec2.Subnet(
      `${name}-subnet-${i}`,
      {
        vpcId: vpc.id,
        cidrBlock: network.subnetCidrs[i]!,
        availabilityZone,
        // The gateways have Elastic IPs; nothing else here should get a public address by default.
        mapPublicIpOnLaunch: false,
        tags: { ...tags, [AWS_TAG_ROLE]: 'gateway-subnet', Name: `${siteName}-wiremesh-${availabilityZone}` },
      },
      { parent },
    );
    const routeTable = new aws.ec2.RouteTable(
      `${name}-rt-${i}`,
      {
        vpcId: vpc.id,
        tags: { ...tags, [AWS_TAG_ROLE]: 'gateway-route-table', Name: `${siteName}-wiremesh-${availabilityZone}` },
      },
      { parent },
    );
    defaultRoutes.push(
      new aws.ec2.Route(
        `${name}-rt-${i}-default`,
        { routeTableId: routeTable.id, destinationCidrBlock: '0.0.0.0/0', gatewayId: internetGateway.id },
        { parent },
      ),
    );
    routeTableAssociations.push(
      new aws.ec2.RouteTableAssociation(
        `${name}-rta-${i}`,
        { subnetId: subnet.id, routeTableId: routeTable.id },
        { parent },
      ),
    );
    subnets.push(subnet);
    routeTables.push(routeTable);
  });
  return { vpc, internetGateway, subnets, routeTables, defaultRoutes, routeTableAssociations };
}

/** Where an AwsGateway runs: the caller's VPC and subnets, or a VPC made here (then the same as if its subnets had been passed). */
export interface GatewayVpc {
  vpcId: pulumi.Input<string>;
  subnets: { subnetId: pulumi.Input<string>; routeTableIds?: pulumi.Input<string>[] }[];
  /** What the instances wait for in a created VPC: the internet route (the bootstrap downloads). */
  internetReady: pulumi.Resource[];
  created: AwsGatewayNetwork | undefined;
}

export function gatewayVpc(
  name: string,
  siteName: string,
  given: { vpcId?: pulumi.Input<string>; subnets?: GatewayVpc['subnets'] },
  network: CheckedNetwork | undefined,
  tags: Record<string, pulumi.Input<string>>,
  parent: pulumi.Resource,
): GatewayVpc {
  if (network === undefined)
    return { vpcId: given.vpcId!, subnets: given.subnets!, internetReady: [], created: undefined };
  const created = createGatewayVpc(name, siteName, network, tags, parent);
  return {
    vpcId: created.vpc.id,
    subnets: created.subnets.map((subnet, i) => ({ subnetId: subnet.id, routeTableIds: [created.routeTables[i]!.id] })),
    internetReady: [created.internetGateway, ...created.defaultRoutes, ...created.routeTableAssociations],
    created,
  };
}
