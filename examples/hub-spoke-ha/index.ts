/**
 * Hub and spoke with an HA hub: WireGuardMesh with mesh.yaml. The hub (`gateways: 2`) is an
 * AwsGatewayGroup: two instances in two subnets/AZs sharing one key, active/standby behind an
 * internet-facing NLB (UDP listener, `GET /active` health checks on the agent's health port: only
 * the active answers 200); its endpoint is the NLB's DNS name. The GCP spoke is a GcpGateway; the branch office is an existing host (RemoteHostAgent:
 * the agent installed and configured over SSH, the key written through the command's stdin).
 *
 * Stack configuration (`pulumi config set wiremesh-hub-spoke-ha:<key> ...`):
 * - agentArtifact: the path of the agent tarball (`npm run pack:package` in this repository, or
 *   `npm pack` of the wiremesh package your program installs): the gateways' buckets get it, the
 *   branch host gets it over SSH; or agentPackage: a pinned package you publish instead
 * - hubVpcId; hubSubnets: JSON list of two `{ subnetId, routeTableIds }` (public subnets in two
 *   AZs; every listed route table sends the spokes' ranges to the active gateway, and the agents
 *   move those routes on failover)
 * - gcpNetwork, gcpSubnetwork, gcpZone
 * - branchHost, branchUser; secrets branchSshKey (OpenSSH private key of branchUser, who needs
 *   passwordless sudo) and branchWireguardKey (`wg genkey`; its `wg pubkey` is the spec's)
 * - branchSourceCidrs: JSON list, the branch office's public (NAT) address: the only source the
 *   hub accepts for it
 * - hubSourceCidrs (optional JSON list): the hub NLB's Elastic IPs (its replies come from them), for the GCP firewall
 *   (without it the GCP WireGuard port is open to 0.0.0.0/0, with a warning; set it after the
 *   first `pulumi up` from `sites.hub.publicIps`)
 */
import { join } from 'node:path';
import * as pulumi from '@pulumi/pulumi';
import { WireGuardMesh, type AwsGatewaySubnetArgs } from '../../index';

const config = new pulumi.Config();
const hubSourceCidrs = config.getObject<string[]>('hubSourceCidrs');
if (hubSourceCidrs === undefined) {
  pulumi.log.warn(
    'hubSourceCidrs is not set: the GCP spoke accepts WireGuard from anywhere until it is (see index.ts)',
  );
}

const mesh = new WireGuardMesh('hs', {
  spec: join(__dirname, 'mesh.yaml'),
  agentArtifact: config.get('agentArtifact'),
  agentPackage: config.get('agentPackage'),
  aws: {
    sites: {
      hub: {
        vpcId: config.require('hubVpcId'),
        subnets: config.requireObject<AwsGatewaySubnetArgs[]>('hubSubnets'),
        // Hosts of the hub VPC may start connections to the spokes through the gateways.
        forwardFromCidrs: ['10.0.0.0/16'],
      },
    },
  },
  gcp: {
    sites: {
      'gcp-spoke': {
        network: config.require('gcpNetwork'),
        subnetwork: config.require('gcpSubnetwork'),
        zones: [config.require('gcpZone')],
        forwardFromCidrs: ['10.30.0.0/16'],
        ...(hubSourceCidrs === undefined ? { allowFromAnywhere: true } : {}),
      },
    },
  },
  onPrem: {
    branch: {
      connection: {
        host: config.require('branchHost'),
        user: config.require('branchUser'),
        privateKey: config.requireSecret('branchSshKey'),
      },
      privateKey: config.requireSecret('branchWireguardKey'),
    },
  },
  sourceCidrs: {
    branch: config.requireObject<string[]>('branchSourceCidrs'),
    ...(hubSourceCidrs !== undefined ? { hub: hubSourceCidrs } : {}),
  },
});

export const sites = mesh.sites;
/** The NLB's DNS name and port: what every spoke dials. */
export const hubEndpoint = mesh.sites.apply((s) => s.hub!.endpoint);
export const gateways = mesh.plan.apply((plan) => plan.gateways.map((g) => g.id));
/** Per cloud site, what rotates when (phase, generations, switchAt, retireAt, summary): printed by `pulumi preview`. */
export const rotationPlan = mesh.rotationPlan;
