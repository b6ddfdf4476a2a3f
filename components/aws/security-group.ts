/**
 * The security group of an AwsGateway: ingress UDP `listenPort` from the peers, TCP `healthPort`
 * from where the health checks come from, and (only with `forwardFromCidrs`) all protocols from
 * the local ranges whose traffic the gateway forwards (security groups filter forwarded packets
 * too); no SSH; egress open (the gateway forwards arbitrary traffic into the VPC).
 */
import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import { AWS_TAG_ROLE } from '../../common/defaults';

/** The source ranges of the three rules (`forwardFrom` empty: no forwarding rule). */
export interface GatewayIngressSources {
  peers: pulumi.Input<string>[];
  healthChecks: pulumi.Output<string[]>;
  forwardFrom: pulumi.Input<string>[];
}

/** The ingress rules, each range in the IPv4 or IPv6 list of its family. */
export function gatewayIngress(
  listenPort: number,
  healthPort: number,
  sources: GatewayIngressSources,
): aws.types.input.ec2.SecurityGroupIngress[] {
  const ingress: aws.types.input.ec2.SecurityGroupIngress[] = [
    {
      description: 'WireGuard from the peers',
      protocol: 'udp',
      fromPort: listenPort,
      toPort: listenPort,
      ...familySplit(pulumi.all(sources.peers)),
    },
    {
      description: 'wiremesh-agent health checks',
      protocol: 'tcp',
      fromPort: healthPort,
      toPort: healthPort,
      ...familySplit(sources.healthChecks),
    },
  ];
  if (sources.forwardFrom.length > 0) {
    ingress.push({
      description: 'Local traffic forwarded to the remote sites',
      protocol: '-1',
      fromPort: 0,
      toPort: 0,
      ...familySplit(pulumi.all(sources.forwardFrom)),
    });
  }
  return ingress;
}

/** Everything out: forwarded traffic and the AWS APIs. */
export const GATEWAY_EGRESS: aws.types.input.ec2.SecurityGroupEgress[] = [
  {
    description: 'Forwarded traffic and AWS APIs',
    protocol: '-1',
    fromPort: 0,
    toPort: 0,
    cidrBlocks: ['0.0.0.0/0'],
    ipv6CidrBlocks: ['::/0'],
  },
];

/** Where health checks come from by default: the VPC's IPv4 CIDR blocks (looked up). */
export function vpcCidrBlocks(vpcId: pulumi.Input<string>, parent: pulumi.Resource): pulumi.Output<string[]> {
  return aws.ec2
    .getVpcOutput({ id: vpcId }, { parent })
    .apply((vpc) => [...new Set([vpc.cidrBlock, ...(vpc.cidrBlockAssociations ?? []).map((a) => a.cidrBlock)])]);
}

/** Splits source ranges into the IPv4 and IPv6 lists of a security group rule. */
export function familySplit(cidrs: pulumi.Output<string[]>): {
  cidrBlocks: pulumi.Output<string[]>;
  ipv6CidrBlocks: pulumi.Output<string[]>;
} {
  return {
    cidrBlocks: cidrs.apply((list) => list.filter((cidr) => !cidr.includes(':'))),
    ipv6CidrBlocks: cidrs.apply((list) => list.filter((cidr) => cidr.includes(':'))),
  };
}

/** The security group (`-sg`) with `ingress` and open egress. */
export function createGatewaySecurityGroup(
  name: string,
  siteName: string,
  vpcId: pulumi.Input<string>,
  ingress: aws.types.input.ec2.SecurityGroupIngress[],
  tags: Record<string, pulumi.Input<string>>,
  parent: pulumi.Resource,
): aws.ec2.SecurityGroup {
  return new aws.ec2.SecurityGroup(
    `${name}-sg`,
    // A description change replaces the group: keep it free of the ports.
    {
      description: `wiremesh gateway of site ${siteName}`,
      vpcId,
      ingress,
      egress: GATEWAY_EGRESS,
      tags: { ...tags, [AWS_TAG_ROLE]: 'gateway' },
    },
    { parent },
  );
}
