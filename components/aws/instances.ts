/**
 * The per-subnet resources of an AwsGateway. Per subnet `i`:
 * - an ENI (`-eni-i`) with `sourceDestCheck: false` and the gateway's security group. The routes
 *   and the Elastic IP point at the ENI, not at the instance, so they survive the instance being
 *   replaced (the instance is `deleteBeforeReplace`: a primary ENI is fixed at launch and cannot
 *   be on two instances, so create-before-delete would need the ENI as a secondary attachment and
 *   policy routing on the host);
 * - an Elastic IP (`-eip-i`) on that ENI, there before the instance boots;
 * - the instance (`-instance-i`): IMDSv2 only (hop limit 1), encrypted gp3 root volume, the
 *   instance profile, `sourceDestCheck: false`, user data holding only secret references;
 * - its health gate (`-serving-i`, ../health-gate.ts): created (and replaced with the instance)
 *   only once the instance serves: in a group, its NLB target passes the health check (a failover
 *   standby's 503 to `GET /active` counts: its agent answers); otherwise EC2's instance and system
 *   status checks pass. Instance i depends on gate i-1, so a change that replaces them all (a new
 *   agent version) is rolling: the engine replaces instance i only once instance i-1's replacement
 *   serves, and a gateway of a group loses one instance at a time. A gate that times out fails the
 *   update with the instance's name, and the instances after it keep their old version. (A
 *   dependsOn-only dependent is not deleted along with a delete-before-replace resource:
 *   pulumi/pulumi#838.);
 * - one `aws.ec2.Route` per remote CIDR per route table of that subnet (`-route-i-j-<cidr>`),
 *   targeting this subnet's ENI. VPC route tables have no ECMP (one target per destination), so
 *   each AZ's route tables point at that AZ's own gateway.
 */
import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import { AWS_TAG_ROLE } from '../../common/defaults';
import { HealthGate, type HealthCheck } from '../health-gate';
import { cidrSlug } from '../names';
import { arnParts } from './failover';
import type { AwsGatewaySubnetArgs, AwsGatewayTargetGroup } from './gateway-args';
import type { CheckedCidr } from './validation';

/** Canonical's AWS account, the owner of the official Ubuntu AMIs. */
const CANONICAL_OWNER_ID = '099720109477';

/** The instance, ENI and Elastic IP of one subnet. */
export interface AwsGatewayInstance {
  subnetIndex: number;
  networkInterface: aws.ec2.NetworkInterface;
  eip: aws.ec2.Eip;
  instance: aws.ec2.Instance;
  /** Exists once the instance serves; the next instance waits for it. */
  healthGate: HealthGate;
  routes: aws.ec2.Route[];
}

/** The latest Canonical Ubuntu 24.04 LTS server AMI of an architecture. */
export function ubuntuAmi(
  architecture: 'x86_64' | 'arm64' | undefined,
  parent: pulumi.Resource,
): pulumi.Output<string> {
  return aws.ec2
    .getAmiOutput(
      {
        mostRecent: true,
        owners: [CANONICAL_OWNER_ID],
        filters: [
          {
            name: 'name',
            values: [
              `ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-${architecture === 'arm64' ? 'arm64' : 'amd64'}-server-*`,
            ],
          },
          { name: 'architecture', values: [architecture ?? 'x86_64'] },
          { name: 'state', values: ['available'] },
        ],
      },
      { parent },
    )
    .apply((image) => image.id);
}

/** The routes of one subnet's route tables to its gateway: names and destinations (pure). */
export function subnetRoutes(
  name: string,
  subnetIndex: number,
  routeTableIds: pulumi.Input<string>[],
  remoteCidrs: CheckedCidr[],
): Array<{ name: string; routeTableId: pulumi.Input<string>; destination: CheckedCidr }> {
  return routeTableIds.flatMap((routeTableId, j) =>
    remoteCidrs.map((destination) => ({
      name: `${name}-route-${subnetIndex}-${j}-${cidrSlug(destination.text)}`,
      routeTableId,
      destination,
    })),
  );
}

/** What every instance of a gateway shares. */
export interface GatewayInstanceSettings {
  siteName: string;
  tags: Record<string, pulumi.Input<string>>;
  securityGroupId: pulumi.Input<string>;
  ami: pulumi.Input<string>;
  /** True when the AMI was looked up (later releases are then ignored). */
  lookedUpAmi: boolean;
  instanceType: pulumi.Input<string>;
  instanceProfile: pulumi.Input<string>;
  userData: pulumi.Input<string>;
  rootVolumeSizeGiB: number | undefined;
  remoteCidrs: CheckedCidr[];
  /** What the Elastic IPs wait for (a created VPC's internet gateway). */
  eipDependsOn: pulumi.Resource[];
  /** What the instances wait for: the public address, the permissions and the configuration. */
  instanceDependsOn: pulumi.Resource[];
  /** True in a failover group: the routes' target is the agents' to change. */
  routesMovedByAgent?: boolean;
  /** The group's target group: its health tells when a replaced instance serves. */
  targetGroup?: AwsGatewayTargetGroup;
}

/** What an ENI and its Elastic IP need. */
export type GatewayInterfaceSettings = Pick<
  GatewayInstanceSettings,
  'siteName' | 'tags' | 'securityGroupId' | 'eipDependsOn'
>;

/** The ENI and Elastic IP of subnet `i`: made before the instances, since the group's document names the ENIs. */
export function createGatewayInterface(
  name: string,
  i: number,
  subnet: AwsGatewaySubnetArgs,
  s: GatewayInterfaceSettings,
  parent: pulumi.Resource,
): Pick<AwsGatewayInstance, 'networkInterface' | 'eip'> {
  const tags = { ...s.tags, [AWS_TAG_ROLE]: 'gateway' };
  const networkInterface = new aws.ec2.NetworkInterface(
    `${name}-eni-${i}`,
    {
      description: `wiremesh gateway ${i} of site ${s.siteName}`,
      subnetId: subnet.subnetId,
      securityGroups: [s.securityGroupId],
      sourceDestCheck: false,
      tags,
    },
    { parent },
  );
  const eip = new aws.ec2.Eip(
    `${name}-eip-${i}`,
    { domain: 'vpc', networkInterface: networkInterface.id, tags },
    // An Elastic IP needs the VPC's internet gateway attached.
    { parent, ...(s.eipDependsOn.length > 0 ? { dependsOn: s.eipDependsOn } : {}) },
  );
  return { networkInterface, eip };
}

/**
 * What tells that instance `i` serves (pure): its target's health when it is an NLB target (the
 * first instance of a group, every instance of a failover group), else EC2's status checks.
 */
export function instanceHealthCheck(
  i: number,
  instance: { id: string; arn: string },
  targetGroup: { arn: string; port: number; failover: boolean } | undefined,
): HealthCheck {
  const { region } = arnParts(instance.arn);
  if (targetGroup !== undefined && (targetGroup.failover || i === 0)) {
    return {
      kind: 'aws-target-health',
      region,
      instanceId: instance.id,
      targetGroupArn: targetGroup.arn,
      port: targetGroup.port,
      standbyAnswers: targetGroup.failover,
    };
  }
  return { kind: 'aws-instance-status', region, instanceId: instance.id };
}

/** The instance, its health gate and routes of subnet `i` on its ENI, replaced after `previous` (gate i-1). */
export function createGatewayInstance(
  name: string,
  i: number,
  subnet: AwsGatewaySubnetArgs,
  { networkInterface, eip }: Pick<AwsGatewayInstance, 'networkInterface' | 'eip'>,
  s: GatewayInstanceSettings,
  parent: pulumi.Resource,
  previous?: HealthGate,
): AwsGatewayInstance {
  const tags = { ...s.tags, [AWS_TAG_ROLE]: 'gateway' };
  const instance = new aws.ec2.Instance(
    `${name}-instance-${i}`,
    {
      ami: s.ami,
      instanceType: s.instanceType,
      primaryNetworkInterface: { networkInterfaceId: networkInterface.id },
      sourceDestCheck: false,
      iamInstanceProfile: s.instanceProfile,
      userData: s.userData,
      userDataReplaceOnChange: true,
      metadataOptions: {
        httpEndpoint: 'enabled',
        httpTokens: 'required',
        httpPutResponseHopLimit: 1,
        instanceMetadataTags: 'disabled',
      },
      rootBlockDevice: {
        encrypted: true,
        volumeType: 'gp3',
        ...(s.rootVolumeSizeGiB !== undefined ? { volumeSize: s.rootVolumeSizeGiB } : {}),
      },
      tags: { ...tags, Name: `${s.siteName}-gateway-${i}` },
    },
    {
      parent,
      // The ENI (primary) can only be on one instance: replace by deleting first.
      deleteBeforeReplace: true,
      dependsOn: [eip, ...s.instanceDependsOn, ...(previous !== undefined ? [previous] : [])],
      ...(s.lookedUpAmi ? { ignoreChanges: ['ami'] } : {}),
    },
  );
  const targetGroup = s.targetGroup;
  const healthGate = new HealthGate(
    `${name}-serving-${i}`,
    {
      label: `${name}-instance-${i}`,
      check: pulumi
        .all([instance.id, instance.arn, targetGroup?.arn])
        .apply(([id, arn, targetGroupArn]) =>
          instanceHealthCheck(
            i,
            { id, arn },
            targetGroup && targetGroupArn !== undefined ? { ...targetGroup, arn: targetGroupArn } : undefined,
          ),
        ),
    },
    { parent },
  );
  const routes = subnetRoutes(name, i, subnet.routeTableIds ?? [], s.remoteCidrs).map(
    (route) =>
      new aws.ec2.Route(
        route.name,
        {
          routeTableId: route.routeTableId,
          ...(route.destination.prefix.family === 4
            ? { destinationCidrBlock: route.destination.text }
            : { destinationIpv6CidrBlock: route.destination.text }),
          networkInterfaceId: networkInterface.id,
        },
        // In a failover group the agents move the routes (ReplaceRoute); an update must not move them back.
        { parent, ...(s.routesMovedByAgent ? { ignoreChanges: ['networkInterfaceId'] } : {}) },
      ),
  );
  return { subnetIndex: i, networkInterface, eip, instance, healthGate, routes };
}

/** One instance per subnet; instance i waits for gate i-1, so a replacement rolls one serving gateway at a time. */
export function createGatewayInstances(
  name: string,
  subnets: AwsGatewaySubnetArgs[],
  interfaces: Array<Pick<AwsGatewayInstance, 'networkInterface' | 'eip'>>,
  settings: GatewayInstanceSettings,
  parent: pulumi.Resource,
): AwsGatewayInstance[] {
  const instances: AwsGatewayInstance[] = [];
  for (const [i, subnet] of subnets.entries()) {
    instances.push(
      createGatewayInstance(name, i, subnet, interfaces[i]!, settings, parent, instances[i - 1]?.healthGate),
    );
  }
  return instances;
}
