/**
 * The components without WireGuardMesh: one AwsGateway in a VPC that already exists (found with
 * `aws.ec2.getVpc`/`getSubnets`/`getRouteTables`, or given by id), peering with one remote site
 * that runs plain WireGuard (a data centre, a partner). The agent configuration is written by
 * hand here, and the remote side's [Peer] section is an output.
 *
 * Stack configuration (`pulumi config set wiremesh-existing-vpc:<key> ...`):
 * - agentArtifact: the path of the agent tarball (`npm run pack:package` in this repository, or
 *   `npm pack` of the wiremesh package your program installs), uploaded to the gateway's bucket;
 *   or agentPackage: a pinned package you publish (exact version or https .tgz URL) instead
 * - the VPC: vpcId, or vpcName (its Name tag; default "main")
 * - the gateway subnets: subnetIds (JSON list), or the VPC's subnets tagged
 *   `wiremesh-gateway=true` (one per AZ: each gets an instance)
 * - the route tables: routeTableIds (JSON object subnet id -> list), or each subnet's associated
 *   route table (the VPC's main table when it has none; a table goes to the first subnet using it,
 *   VPC route tables having one target per destination)
 * - the remote site: remoteName (default "dc"), remotePublicKey, remoteEndpoint (host:port),
 *   remoteCidrs (JSON list), remoteSourceCidrs (JSON list; default the endpoint's address when it
 *   is an IP)
 * - tunnelAddress: this gateway's tunnel address (default 10.255.0.1/32)
 */
import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import { AwsGateway, endpointSourceCidr, type AwsGatewaySubnetArgs, type GatewayAgentConfig } from '../../index';

export = async () => {
  const config = new pulumi.Config();
  const vpc = await aws.ec2.getVpc(
    config.get('vpcId') !== undefined
      ? { id: config.require('vpcId') }
      : { tags: { Name: config.get('vpcName') ?? 'main' } },
  );
  const vpcCidrs = [...new Set([vpc.cidrBlock, ...(vpc.cidrBlockAssociations ?? []).map((a) => a.cidrBlock)])];

  const subnetIds =
    config.getObject<string[]>('subnetIds') ??
    (
      await aws.ec2.getSubnets({
        filters: [
          { name: 'vpc-id', values: [vpc.id] },
          { name: 'tag:wiremesh-gateway', values: ['true'] },
        ],
      })
    ).ids;
  if (subnetIds.length === 0)
    throw new Error('no gateway subnets: set subnetIds, or tag one public subnet per AZ with wiremesh-gateway=true');

  const givenTables = config.getObject<Record<string, string[]>>('routeTableIds');
  const claimed = new Set<string>();
  const subnets: AwsGatewaySubnetArgs[] = [];
  for (const subnetId of subnetIds) {
    let tables = givenTables?.[subnetId];
    if (tables === undefined) {
      const associated = await aws.ec2.getRouteTables({
        filters: [{ name: 'association.subnet-id', values: [subnetId] }],
      });
      tables =
        associated.ids.length > 0
          ? associated.ids
          : (
              await aws.ec2.getRouteTables({
                filters: [
                  { name: 'vpc-id', values: [vpc.id] },
                  { name: 'association.main', values: ['true'] },
                ],
              })
            ).ids;
    }
    const own = tables.filter((id) => !claimed.has(id));
    own.forEach((id) => claimed.add(id));
    subnets.push({ subnetId, routeTableIds: own });
  }

  const remoteName = config.get('remoteName') ?? 'dc';
  const remoteEndpoint = config.require('remoteEndpoint');
  const remoteCidrs = config.requireObject<string[]>('remoteCidrs');
  const derivedSource = endpointSourceCidr(remoteEndpoint);
  const remoteSourceCidrs =
    config.getObject<string[]>('remoteSourceCidrs') ?? (derivedSource !== undefined ? [derivedSource] : undefined);
  if (remoteSourceCidrs === undefined)
    throw new Error(
      `remoteEndpoint ${remoteEndpoint} is not an IP address: set remoteSourceCidrs (where the remote site sends from)`,
    );
  const tunnelAddress = config.get('tunnelAddress') ?? '10.255.0.1/32';

  // Written by hand: one peer, its ranges routed into the tunnel. The gateway fills in the
  // interface name (wm0), its key secret, its config secret, the listen port and the health listener.
  const agentConfig: GatewayAgentConfig = {
    interface: { addresses: [tunnelAddress], mtu: 1420 },
    peers: [
      {
        name: remoteName,
        publicKey: config.require('remotePublicKey'),
        endpoint: remoteEndpoint,
        allowedIps: remoteCidrs,
      },
    ],
    routes: remoteCidrs,
    forwarding: true,
  };

  const gateway = new AwsGateway('edge', {
    siteName: 'edge',
    vpcId: vpc.id,
    subnets,
    remoteCidrs,
    peerCidrs: remoteSourceCidrs,
    forwardFromCidrs: vpcCidrs,
    agent: { artifact: config.get('agentArtifact'), package: config.get('agentPackage'), config: agentConfig },
  });

  return {
    vpcId: vpc.id,
    publicKey: gateway.publicKey,
    endpoints: gateway.endpoints,
    instanceIds: gateway.instanceIds,
    /** The [Peer] section the remote site adds to its wg-quick configuration (one per gateway instance: use one). */
    remotePeerConfig: pulumi
      .all([gateway.publicKey, gateway.endpoints])
      .apply(([publicKey, endpoints]) =>
        [
          '[Peer]',
          `# wiremesh gateway "edge" in ${vpc.id}`,
          `PublicKey = ${publicKey}`,
          `Endpoint = ${endpoints[0]}`,
          `AllowedIPs = ${[tunnelAddress, ...vpcCidrs].join(', ')}`,
          '',
        ].join('\n'),
      ),
  };
};
