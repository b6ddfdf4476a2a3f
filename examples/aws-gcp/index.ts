/**
 * An AWS <-> GCP site-to-site mesh: WireGuardMesh with mesh.yaml (two sites, full-mesh), one
 * AwsGateway in an existing VPC and one GcpGateway in an existing VPC network.
 *
 * Stack configuration (`pulumi config set wiremesh-aws-gcp:<key> ...`; `aws:region` and
 * `gcp:project`/`gcp:region` for the default providers):
 * - agentArtifact: the path of the agent tarball (`npm run pack:package` in this repository, or
 *   `npm pack` of the wiremesh package your program installs): each gateway uploads it to its own
 *   bucket and its VMs install it, checksum verified. Or agentPackage: a pinned package you publish
 *   (an exact version of your scope, or an https .tgz URL) instead.
 * - awsVpcId, awsSubnetId (a public subnet: the gateway has an Elastic IP), awsRouteTableIds
 *   (JSON list: the route tables that send 10.20.0.0/16 to the gateway)
 * - gcpNetwork, gcpSubnetwork, gcpZone
 * - awsSourceCidrs (optional JSON list): the AWS gateway's public address(es). GCP firewalls take
 *   plain ranges and the Elastic IP is allocated by this deployment, so without it the GCP
 *   WireGuard port is opened to 0.0.0.0/0 (WireGuard answers nothing unauthenticated); after the
 *   first `pulumi up`, set it from the `sites` output (`sites["aws-eu"].publicIps`) and update.
 * - dataPlane (optional): the agents' data plane, default `auto` (the kernel's WireGuard when the
 *   VM has it). `userspace` holds two keys per peer through a key rotation, so no document order
 *   matters (docs/key-rotation.md, "One key per peer, or two").
 * - configPollSeconds (optional): seconds between each agent's polls of its config secret, default 60.
 *
 * The AWS gateway's security group allows WireGuard only from the GCP gateway's static address
 * (derived), the health port from the VPC, and forwarded traffic from the AWS site's own CIDRs;
 * the GCP firewall likewise (no health rule: nothing probes a single gateway).
 */
import { join } from 'node:path';
import * as pulumi from '@pulumi/pulumi';
import { loadMeshSpecForDeployment, WireGuardMesh, type DataPlaneKind } from '../../index';

const config = new pulumi.Config();
const specPath = join(__dirname, 'mesh.yaml');
const { spec } = loadMeshSpecForDeployment(specPath);
const cidrsOf = (site: string): string[] => spec.sites.find((s) => s.name === site)!.cidrs;
const awsSourceCidrs = config.getObject<string[]>('awsSourceCidrs');
const dataPlane = config.get('dataPlane') as DataPlaneKind | undefined;
const configPollSeconds = config.getNumber('configPollSeconds');
const polling = configPollSeconds === undefined ? {} : { configPollSeconds };
if (awsSourceCidrs === undefined) {
  pulumi.log.warn(
    'awsSourceCidrs is not set: the GCP gateway accepts WireGuard from anywhere until it is (see index.ts)',
  );
}

const mesh = new WireGuardMesh('aws-gcp', {
  spec: specPath,
  agentArtifact: config.get('agentArtifact'),
  agentPackage: config.get('agentPackage'),
  ...(dataPlane !== undefined ? { dataPlane } : {}),
  aws: {
    sites: {
      'aws-eu': {
        vpcId: config.require('awsVpcId'),
        subnets: [
          {
            subnetId: config.require('awsSubnetId'),
            routeTableIds: config.requireObject<string[]>('awsRouteTableIds'),
          },
        ],
        forwardFromCidrs: cidrsOf('aws-eu'),
        ...polling,
      },
    },
  },
  gcp: {
    sites: {
      'gcp-eu': {
        network: config.require('gcpNetwork'),
        subnetwork: config.require('gcpSubnetwork'),
        zones: [config.require('gcpZone')],
        forwardFromCidrs: cidrsOf('gcp-eu'),
        ...polling,
        ...(awsSourceCidrs === undefined ? { allowFromAnywhere: true } : {}),
      },
    },
  },
  ...(awsSourceCidrs !== undefined ? { sourceCidrs: { 'aws-eu': awsSourceCidrs } } : {}),
});

/** Per site: public key, endpoint, instance ids, public addresses, CIDRs. */
export const sites = mesh.sites;
export const awsEndpoint = mesh.sites.apply((s) => s['aws-eu']!.endpoint);
export const gcpEndpoint = mesh.sites.apply((s) => s['gcp-eu']!.endpoint);
/** Per cloud site, what rotates when (phase, generations, switchAt, retireAt, summary): printed by `pulumi preview`. */
export const rotationPlan = mesh.rotationPlan;
