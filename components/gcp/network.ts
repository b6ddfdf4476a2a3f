/**
 * The network a GcpGateway creates (`createNetwork: { cidr }`): a custom-mode `gcp.compute.Network`
 * `<name>-net` without auto-created subnetworks and one `gcp.compute.Subnetwork` `<name>-subnet` of
 * that range in the zones' region; the gateway then uses them as if they had been passed.
 */
import * as gcp from '@pulumi/gcp';
import type * as pulumi from '@pulumi/pulumi';

export function createGatewayNetwork(
  name: string,
  project: pulumi.Input<string> | undefined,
  region: string,
  cidr: string,
  parent: pulumi.Resource,
): { network: gcp.compute.Network; subnetwork: gcp.compute.Subnetwork } {
  const network = new gcp.compute.Network(
    `${name}-net`,
    {
      project,
      autoCreateSubnetworks: false,
      routingMode: 'REGIONAL',
      description: `wiremesh gateway ${name}: its network`,
    },
    { parent },
  );
  const subnetwork = new gcp.compute.Subnetwork(
    `${name}-subnet`,
    {
      project,
      region,
      network: network.id,
      ipCidrRange: cidr,
      description: `wiremesh gateway ${name}: its subnetwork`,
    },
    { parent },
  );
  return { network, subnetwork };
}
