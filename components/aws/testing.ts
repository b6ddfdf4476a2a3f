/**
 * Mock answers for tests of the AWS components (and of components built on them), for
 * `setupMocks` in components/testing.ts: realistic ARNs (the components read the region and the
 * partition out of secret and role ARNs), Elastic IP addresses, NLB DNS names, and the two
 * lookups the gateway makes (`aws.ec2.getVpc`, `aws.ec2.getAmi`).
 *
 * ```ts
 * const mocks = setupMocks(awsMockOptions());
 * ```
 */
import type * as pulumi from '@pulumi/pulumi';
import type { SetupMocksOptions } from '../testing';

/** What {@link awsMockOptions} answers; every field has a default. */
export interface AwsMockSettings {
  /** Region in the ARNs; default eu-west-1. */
  region?: string;
  account?: string;
  /** The VPC's CIDR blocks, for `getVpc`; default ["10.0.0.0/16"]. */
  vpcCidrs?: string[];
  /** The AMI id `getAmi` answers; default ami-0123456789abcdef0. */
  amiId?: string;
}

/** A short stable suffix for a name, as Secrets Manager appends six random characters. */
function suffix(name: string): string {
  let hash = 0;
  for (const char of name) hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
  return hash.toString(36).padStart(6, '0').slice(-6);
}

/** The `newResource` and `call` answers; spread into `setupMocks` options. */
export function awsMockOptions(settings: AwsMockSettings = {}): Pick<SetupMocksOptions, 'newResource' | 'call'> {
  const region = settings.region ?? 'eu-west-1';
  const account = settings.account ?? '123456789012';
  const vpcCidrs = settings.vpcCidrs ?? ['10.0.0.0/16'];
  const amiId = settings.amiId ?? 'ami-0123456789abcdef0';
  let eips = 0;
  let interfaces = 0;
  return {
    newResource(args: pulumi.runtime.MockResourceArgs): pulumi.runtime.MockResourceResult | undefined {
      const id = `${args.name}-id`;
      switch (args.type) {
        case 'aws:secretsmanager/secret:Secret': {
          const name = (args.inputs.name as string | undefined) ?? `${args.name}-${suffix(args.name)}`;
          return {
            id,
            state: {
              ...args.inputs,
              name,
              arn: `arn:aws:secretsmanager:${region}:${account}:secret:${name}-${suffix(name)}`,
            },
          };
        }
        case 'aws:secretsmanager/secretVersion:SecretVersion':
          return { id, state: { ...args.inputs, arn: args.inputs.secretId, versionId: `${args.name}-version-id` } };
        case 'aws:iam/role:Role':
          return {
            id: args.name,
            state: { ...args.inputs, name: args.name, arn: `arn:aws:iam::${account}:role/${args.name}` },
          };
        case 'aws:iam/instanceProfile:InstanceProfile':
          return {
            id: args.name,
            state: { ...args.inputs, name: args.name, arn: `arn:aws:iam::${account}:instance-profile/${args.name}` },
          };
        case 'aws:ec2/networkInterface:NetworkInterface': {
          // ENI ids and private addresses as EC2 gives them (a failover document is validated): the
          // n-th interface at a.b.n.10 in the VPC's first range.
          interfaces++;
          return {
            id: `eni-0${interfaces.toString(16).padStart(16, '0')}`,
            state: {
              ...args.inputs,
              privateIp: `${vpcCidrs[0]!.split('.').slice(0, 2).join('.')}.${interfaces}.10`,
              arn: `arn:aws:ec2:${region}:${account}:network-interface/eni-0${interfaces.toString(16).padStart(16, '0')}`,
            },
          };
        }
        case 'aws:ec2/instance:Instance':
          // The region of its ARN is where a health gate asks about it.
          return { id, state: { ...args.inputs, arn: `arn:aws:ec2:${region}:${account}:instance/${id}` } };
        case 'aws:ec2/eip:Eip':
          eips += 1;
          return {
            id: `eipalloc-${args.name}`,
            state: { ...args.inputs, publicIp: `198.51.100.${eips}`, allocationId: `eipalloc-${args.name}` },
          };
        case 'aws:s3/bucket:Bucket': {
          const bucket =
            (args.inputs.bucket as string | undefined) ??
            `${args.inputs.bucketPrefix ?? `${args.name}-`}${suffix(args.name)}`;
          return { id: bucket, state: { ...args.inputs, bucket, arn: `arn:aws:s3:::${bucket}`, region } };
        }
        case 'aws:lb/loadBalancer:LoadBalancer':
          return {
            id,
            state: {
              ...args.inputs,
              arn: `arn:aws:elasticloadbalancing:${region}:${account}:loadbalancer/net/${args.name}/0123456789abcdef`,
              dnsName: `${args.name}-0123456789abcdef.elb.${region}.amazonaws.com`,
            },
          };
        case 'aws:lb/targetGroup:TargetGroup':
          return {
            id,
            state: {
              ...args.inputs,
              arn: `arn:aws:elasticloadbalancing:${region}:${account}:targetgroup/${args.name}/0123456789abcdef`,
            },
          };
        default:
          return undefined;
      }
    },
    call(args: pulumi.runtime.MockCallArgs): pulumi.runtime.MockCallResult | undefined {
      switch (args.token) {
        case 'aws:ec2/getVpc:getVpc':
          return {
            id: args.inputs.id,
            cidrBlock: vpcCidrs[0],
            cidrBlockAssociations: vpcCidrs.map((cidrBlock, i) => ({
              associationId: `vpc-cidr-assoc-${i}`,
              cidrBlock,
              state: 'associated',
            })),
          };
        case 'aws:ec2/getAmi:getAmi':
          return {
            id: amiId,
            imageId: amiId,
            architecture: 'x86_64',
            name: 'ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20250101',
          };
        default:
          return undefined;
      }
    },
  };
}
