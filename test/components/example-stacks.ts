/**
 * The example programs' stack configuration and cloud answers under Pulumi mocks, one per example:
 * shared by the graph checks (examples.test.ts) and the run through Pulumi's TypeScript loader
 * (examples-ts-node.test.ts, example-runner.cjs).
 */
import { join } from 'node:path';
import { wireGuardKeyPairFromEntropy } from '../../components/key';
import type { MockRecorder } from '../../components/testing';
import { meshMocks } from './mesh-support';

/** The branch host's key of examples/hub-spoke-ha/mesh.yaml (the example key pair). */
export const BRANCH = wireGuardKeyPairFromEntropy(new Uint8Array(32).fill(11));
export const DC = wireGuardKeyPairFromEntropy(new Uint8Array(32).fill(12));

/**
 * The examples' `agentArtifact`: a minimal tarball shaped like `npm pack` of the agent (package.json,
 * bin/wiremesh-agent.js, the unit, a linux-x64 file under prebuilds/), made with tar and gzip -n.
 */
export const AGENT_ARTIFACT = join(__dirname, '..', 'fixtures', 'agent-artifact.tgz');

export function stackConfig(project: string, values: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(values).map(([k, v]) => [`${project}:${k}`, typeof v === 'string' ? v : JSON.stringify(v)]),
  );
}

/** Installs the mocks (with the example's stack configuration) for each example, by directory name. */
export const exampleStacks: Record<'aws-gcp' | 'hub-spoke-ha' | 'existing-vpc', () => MockRecorder> = {
  'aws-gcp': () =>
    meshMocks({
      project: 'wiremesh-aws-gcp',
      config: stackConfig('wiremesh-aws-gcp', {
        agentArtifact: AGENT_ARTIFACT,
        awsVpcId: 'vpc-0aws',
        awsSubnetId: 'subnet-0aws',
        awsRouteTableIds: ['rtb-0private', 'rtb-0public'],
        gcpNetwork: 'mesh-vpc',
        gcpSubnetwork: 'gateways',
        gcpZone: 'europe-west1-b',
        awsSourceCidrs: ['198.51.100.1/32'],
      }),
    }),
  'hub-spoke-ha': () =>
    meshMocks({
      project: 'wiremesh-hub-spoke-ha',
      config: stackConfig('wiremesh-hub-spoke-ha', {
        agentArtifact: AGENT_ARTIFACT,
        hubVpcId: 'vpc-0hub',
        hubSubnets: [
          { subnetId: 'subnet-0a', routeTableIds: ['rtb-0a'] },
          { subnetId: 'subnet-0b', routeTableIds: ['rtb-0b1', 'rtb-0b2'] },
        ],
        gcpNetwork: 'spoke-vpc',
        gcpSubnetwork: 'gateways',
        gcpZone: 'europe-west4-a',
        branchHost: '192.0.2.10',
        branchUser: 'admin',
        branchSshKey: '-----BEGIN OPENSSH PRIVATE KEY-----\nexample\n-----END OPENSSH PRIVATE KEY-----\n',
        branchWireguardKey: BRANCH.privateKey,
        branchSourceCidrs: ['203.0.113.10/32'],
        hubSourceCidrs: ['198.51.100.1/32', '198.51.100.2/32'],
      }),
      secretConfigKeys: [`wiremesh-hub-spoke-ha:branchSshKey`, `wiremesh-hub-spoke-ha:branchWireguardKey`],
      aws: { vpcCidrs: ['10.0.0.0/16'] },
    }),
  'existing-vpc': () => existingVpcStack(),
};

/**
 * examples/existing-vpc's stack: the VPC found by Name tag, its two subnets tagged as gateway subnets
 * (subnet-0a with its own route table, subnet-0b on the main table): an AwsGatewayGroup; or, with
 * `subnetIds`, just those subnets (one: an AwsGateway).
 */
export function existingVpcStack(subnetIds?: string[]): MockRecorder {
  return meshMocks({
    project: 'wiremesh-existing-vpc',
    config: stackConfig('wiremesh-existing-vpc', {
      agentArtifact: AGENT_ARTIFACT,
      vpcName: 'production',
      remotePublicKey: DC.publicKey,
      remoteEndpoint: '192.0.2.50:51820',
      remoteCidrs: ['172.16.0.0/16', '172.20.0.0/16'],
      ...(subnetIds !== undefined ? { subnetIds } : {}),
    }),
    call(args) {
      switch (args.token) {
        case 'aws:ec2/getVpc:getVpc':
          return {
            id: 'vpc-0existing',
            cidrBlock: '10.50.0.0/16',
            cidrBlockAssociations: [
              { associationId: 'a0', cidrBlock: '10.50.0.0/16', state: 'associated' },
              { associationId: 'a1', cidrBlock: '10.51.0.0/16', state: 'associated' },
            ],
          };
        case 'aws:ec2/getSubnets:getSubnets':
          return { ids: ['subnet-0a', 'subnet-0b'], filters: args.inputs.filters };
        case 'aws:ec2/getRouteTables:getRouteTables': {
          const filters = args.inputs.filters as Array<{ name: string; values: string[] }>;
          const subnet = filters.find((f) => f.name === 'association.subnet-id')?.values[0];
          if (subnet === 'subnet-0a') return { ids: ['rtb-0a'] };
          if (subnet === 'subnet-0b') return { ids: [] };
          return { ids: ['rtb-0main'] };
        }
        default:
          return undefined;
      }
    },
  });
}
