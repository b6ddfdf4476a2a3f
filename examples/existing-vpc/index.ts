/**
 * The components without WireGuardMesh: a gateway in a VPC that already exists (found with
 * `aws.ec2.getVpc`/`getSubnets`/`getRouteTables`, or given by id), peering with one remote site
 * that runs plain WireGuard (a data centre, a partner). The agent configuration is written by
 * hand here, and the remote side's [Peer] section is an output.
 *
 * One gateway subnet: one AwsGateway (one instance, its Elastic IP), which dials the remote site.
 * Several: one AwsGatewayGroup over them, because instances sharing one WireGuard key would
 * displace each other's sessions with the remote peer: one active key holder behind a network
 * load balancer with static addresses, every subnet's route tables at the active, and agent
 * failover moving the routes. The group never initiates, so the remote site dials the NLB (with a
 * persistent keepalive in its [Peer]).
 *
 * Stack configuration (`pulumi config set wiremesh-existing-vpc:<key> ...`):
 * - agentArtifact: the path of the agent tarball (`npm run pack:package` in this repository, or
 *   `npm pack` of the wiremesh package your program installs), uploaded to the gateway's bucket;
 *   or agentPackage: a pinned package you publish (exact version or https .tgz URL) instead
 * - the VPC: vpcId, or vpcName (its Name tag; default "main")
 * - the gateway subnets: subnetIds (JSON list), or the VPC's subnets tagged
 *   `wiremesh-gateway=true` (one per AZ; with several, a group with one instance in each)
 * - the route tables: routeTableIds (JSON object subnet id -> list), or each subnet's associated
 *   route table (the VPC's main table when it has none; a table goes to the first subnet using it,
 *   VPC route tables having one target per destination)
 * - the remote site: remoteName (default "dc"), remotePublicKey, remoteEndpoint (host:port; with
 *   one subnet required, the gateway dials it; a group only derives the default remoteSourceCidrs
 *   from it), remoteCidrs (JSON list), remoteSourceCidrs (JSON list; default the endpoint's address
 *   when it is an IP)
 * - tunnelAddress: this gateway's tunnel address (default 10.255.0.1/32)
 */
import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import {
  AwsGateway,
  AwsGatewayGroup,
  endpointSourceCidr,
  type AwsGatewayArgs,
  type AwsGatewaySubnetArgs,
  type GatewayAgentConfig,
} from '../../index';

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
  const grouped = subnets.length > 1;
  const remoteEndpoint = grouped ? config.get('remoteEndpoint') : config.require('remoteEndpoint');
  const remoteCidrs = config.requireObject<string[]>('remoteCidrs');
  const derivedSource = remoteEndpoint !== undefined ? endpointSourceCidr(remoteEndpoint) : undefined;
  const remoteSourceCidrs =
    config.getObject<string[]>('remoteSourceCidrs') ?? (derivedSource !== undefined ? [derivedSource] : undefined);
  if (remoteSourceCidrs === undefined)
    throw new Error(
      remoteEndpoint === undefined
        ? 'set remoteSourceCidrs (where the remote site sends from) or remoteEndpoint (its IP address and port)'
        : `remoteEndpoint ${remoteEndpoint} is not an IP address: set remoteSourceCidrs (where the remote site sends from)`,
    );
  const tunnelAddress = config.get('tunnelAddress') ?? '10.255.0.1/32';

  // Written by hand: one peer, its ranges routed into the tunnel. The gateway fills in the
  // interface name (wm0), its key secret, its config secret, the listen port and the health listener;
  // a group also drops the endpoint (its instances never initiate).
  const agentConfig: GatewayAgentConfig = {
    interface: { addresses: [tunnelAddress], mtu: 1420 },
    peers: [
      {
        name: remoteName,
        publicKey: config.require('remotePublicKey'),
        ...(remoteEndpoint !== undefined ? { endpoint: remoteEndpoint } : {}),
        allowedIps: remoteCidrs,
      },
    ],
    routes: remoteCidrs,
    forwarding: true,
  };

  const gatewayArgs = {
    siteName: 'edge',
    vpcId: vpc.id,
    subnets,
    remoteCidrs,
    peerCidrs: remoteSourceCidrs,
    forwardFromCidrs: vpcCidrs,
    agent: { artifact: config.get('agentArtifact'), package: config.get('agentPackage'), config: agentConfig },
  } satisfies AwsGatewayArgs;
  /** The [Peer] section the remote site adds to its wg-quick configuration. */
  const remotePeer = (publicKey: string, endpoint: string, keepalive: boolean): string =>
    [
      '[Peer]',
      `# wiremesh gateway "edge" in ${vpc.id}`,
      `PublicKey = ${publicKey}`,
      `Endpoint = ${endpoint}`,
      `AllowedIPs = ${[tunnelAddress, ...vpcCidrs].join(', ')}`,
      // The group never initiates: the remote site keeps its session (and the NLB's UDP flow) alive.
      ...(keepalive ? ['PersistentKeepalive = 25'] : []),
      '',
    ].join('\n');

  if (!grouped) {
    const gateway = new AwsGateway('edge', gatewayArgs);
    return {
      vpcId: vpc.id,
      publicKey: gateway.publicKey,
      endpoints: gateway.endpoints,
      instanceIds: gateway.instanceIds,
      remotePeerConfig: pulumi
        .all([gateway.publicKey, gateway.endpoints])
        .apply(([publicKey, endpoints]) => remotePeer(publicKey, endpoints[0]!, false)),
    };
  }
  // Failover is on by default with several subnets: the NLB checks GET /active on every instance.
  const group = new AwsGatewayGroup('edge', gatewayArgs);
  return {
    vpcId: vpc.id,
    publicKey: group.publicKey,
    endpoints: [group.endpoint],
    instanceIds: group.instanceIds,
    /** The NLB's Elastic IPs: where the remote site's firewall sees the gateway's packets come from. */
    loadBalancerAddresses: group.loadBalancerAddresses,
    remotePeerConfig: pulumi
      .all([group.publicKey, group.endpoint])
      .apply(([publicKey, endpoint]) => remotePeer(publicKey, endpoint, true)),
  };
};
