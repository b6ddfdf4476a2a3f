/**
 * The lab's cloud networks, in network namespaces (lab/netns.ts):
 *
 *                 edge (198.18.200.10: cloud APIs, npm registry, Debian mirror)
 *                   |
 *   inet ---------- + ------------ (one /30 per site: 198.18.1x.0/30)
 *    |                    |
 *   vpc:aws-eu           vpc:gcp-eu            site routers: the VPC's routing (the route table
 *    |  \                 |  \                 entries the components create: remote CIDRs via the
 *   gw  lan              gw  lan               gateway), 1:1 NAT of each gateway's public address,
 *                                              169.254.169.254 (that cloud's metadata service),
 *                                              a NAT gateway for instances without a public address
 *
 * Each site's first CIDR a.b.0.0/16 holds the gateway subnets (one bridge on the router, which
 * has .1 in each /24 a gateway is in): an AWS gateway at the private address of its network
 * interface in the graph (a.b.N.10, N-th interface), others at a.b.1.10+; and the LAN subnet
 * a.b.200.0/24 (router .1, LAN host .10). The public addresses come from the deployment (Elastic
 * IP, GCP static address). An AWS site's router routes by the site's first route table of the
 * graph (the one the lab associates its LAN subnet with; the EC2 service moves its routes); a
 * load balancer's Elastic IPs jump to its nft chain, which the NLB service fills with the routable
 * targets. No namespace has a default route: each gets routes for the lab's own prefixes only, and
 * none is linked to the host's network.
 */
import { Lab } from '../netns';
import type { LabDeployment, LabGateway, LabLoadBalancer, LabRemoteSite } from './deployment';

export const EDGE_IP = '198.18.200.10';
export const METADATA_IP = '169.254.169.254';
/** The router's nft table: the Elastic IPs' 1:1 NAT, the NAT gateway, the load balancers' chains. */
export const NAT_TABLE_NAME = 'wiremesh_lab_nat';
/** The LAN subnet of every site: a.b.200.0/24, clear of the gateway subnets. */
const LAN_SUBNET = 200;
/** What the gateways reach through their site router: the edge, and every public address. */
const LAB_PUBLIC_PREFIXES = ['198.18.0.0/15', '198.51.100.0/24', '203.0.113.0/24'];

export interface SiteNetwork {
  site: string;
  cloud: 'aws' | 'gcp';
  cidrs: string[];
  router: string;
  lanHost: string;
  lanAddress: string;
  routerGatewaySide: string;
}

export interface GatewayNetwork {
  gateway: LabGateway;
  namespace: string;
  privateIp: string;
  site: SiteNetwork;
}

/** A site outside the clouds: its router holds the public address and runs WireGuard (lab.ts). */
export interface RemoteSiteNetwork {
  remote: LabRemoteSite;
  site: string;
  router: string;
  lanHost: string;
  lanAddress: string;
  lanRouter: string;
}

/** A load balancer in its site's router: the nft chain its Elastic IPs jump to, its targets. */
export interface LoadBalancerNetwork {
  loadBalancer: LabLoadBalancer;
  router: string;
  chain: string;
  targets: GatewayNetwork[];
}

export interface LabNetwork {
  inet: string;
  edge: string;
  sites: SiteNetwork[];
  gateways: GatewayNetwork[];
  remotes: RemoteSiteNetwork[];
  loadBalancers: LoadBalancerNetwork[];
  /** The route tables the routers realize: id -> router namespace. */
  routeTableRouters: Record<string, string>;
}

function subnetOf(cidr: string, third: number, host: number): string {
  const [a, b] = cidr.split('/')[0]!.split('.');
  return `${a}.${b}.${third}.${host}`;
}

function sysctl(lab: Lab, ns: string, settings: Record<string, string>): void {
  for (const [key, value] of Object.entries(settings)) lab.run(ns, 'sysctl', ['-qw', `${key}=${value}`]);
}

export function buildNetwork(lab: Lab, deployment: LabDeployment): LabNetwork {
  const inet = lab.namespace('inet');
  const edge = lab.namespace('edge');
  lab.link(inet, edge, { a: ['198.18.200.1/24'], b: [`${EDGE_IP}/24`] });
  lab.run(edge, 'ip', ['route', 'add', '198.18.0.0/15', 'via', '198.18.200.1']);
  for (const prefix of LAB_PUBLIC_PREFIXES.slice(1))
    lab.run(edge, 'ip', ['route', 'add', prefix, 'via', '198.18.200.1']);
  sysctl(lab, inet, { 'net.ipv4.ip_forward': '1' });

  const siteNames = [...new Set(deployment.gateways.map((g) => g.site))];
  const sites: SiteNetwork[] = [];
  const gateways: GatewayNetwork[] = [];
  const loadBalancers: LoadBalancerNetwork[] = [];
  const routeTableRouters: Record<string, string> = {};
  siteNames.forEach((siteName, index) => {
    const members = deployment.gateways.filter((g) => g.site === siteName);
    const { cloud, siteCidrs } = members[0]!;
    const router = lab.namespace(`vpc${index}`);
    sysctl(lab, router, { 'net.ipv4.ip_forward': '1' });
    const inetSide = `198.18.${10 + index}.1`;
    const routerSide = `198.18.${10 + index}.2`;
    const uplink = lab.link(inet, router, { a: [`${inetSide}/30`], b: [`${routerSide}/30`] });
    const routerGatewaySide = subnetOf(siteCidrs[0]!, 1, 1);
    const addresses = members.map((g, j) => g.privateIp ?? subnetOf(siteCidrs[0]!, 1, 10 + j));
    const subnetRouter = (address: string) => address.replace(/\.\d+$/, '.1');
    // The gateway subnets: a bridge on the router that every gateway's veth joins.
    const bridge = lab.name('br');
    lab.run(router, 'ip', ['link', 'add', bridge, 'type', 'bridge']);
    for (const address of new Set([routerGatewaySide, ...addresses.map(subnetRouter)]))
      lab.addAddress(router, bridge, `${address}/24`);
    lab.addAddress(router, bridge, `${METADATA_IP}/32`);
    lab.run(router, 'ip', ['link', 'set', bridge, 'up']);
    const lanHost = lab.namespace(`lan${index}`);
    const lanAddress = subnetOf(siteCidrs[0]!, LAN_SUBNET, 10);
    const lanRouter = subnetOf(siteCidrs[0]!, LAN_SUBNET, 1);
    lab.link(router, lanHost, { a: [`${lanRouter}/24`], b: [`${lanAddress}/24`] });
    const site: SiteNetwork = {
      site: siteName,
      cloud,
      cidrs: siteCidrs,
      router,
      lanHost,
      lanAddress,
      routerGatewaySide,
    };
    sites.push(site);
    for (const prefix of LAB_PUBLIC_PREFIXES.slice(1)) lab.run(router, 'ip', ['route', 'add', prefix, 'via', inetSide]);
    lab.run(router, 'nft', ['-f', '-'], NAT_TABLE);
    members.forEach((gateway, j) => {
      const privateIp = addresses[j]!;
      const namespace = lab.namespace(`gw${index}${j}`);
      const { deviceA } = lab.link(router, namespace, { a: [], b: [`${privateIp}/24`] });
      lab.run(router, 'ip', ['link', 'set', deviceA, 'master', bridge]);
      // What the cloud network gives an instance: its site's ranges, the metadata service, the
      // internet (here: the lab's public prefixes only), all through the subnet's router.
      for (const prefix of [...siteCidrs, `${METADATA_IP}/32`, ...LAB_PUBLIC_PREFIXES]) {
        lab.run(namespace, 'ip', ['route', 'add', prefix, 'via', subnetRouter(privateIp)]);
      }
      gateways.push({ gateway, namespace, privateIp, site });
      // Instances without a public address reach the internet through the VPC's NAT gateway.
      if (gateway.publicIp === '') {
        lab.run(router, 'nft', [
          'add',
          'rule',
          'ip',
          NAT_TABLE_NAME,
          'postrouting',
          'oifname',
          uplink.deviceB,
          'ip',
          'saddr',
          privateIp,
          'snat',
          'to',
          routerSide,
        ]);
        return;
      }
      lab.run(inet, 'ip', ['route', 'add', `${gateway.publicIp}/32`, 'via', routerSide]);
      lab.run(router, 'nft', ['-f', '-'], oneToOneNat(gateway.publicIp, privateIp, uplink.deviceB));
    });
    // The site's network load balancer: its Elastic IPs' listener port jumps to its chain, which the
    // NLB service (services/nlb.ts) fills with the routable targets; conntrack answers from the
    // address the peer dialled, as the NLB does.
    for (const lb of deployment.loadBalancers.filter((l) => l.site === siteName)) {
      const chain = `nlb${loadBalancers.length}`;
      for (const ip of lb.publicIps) lab.run(inet, 'ip', ['route', 'add', `${ip}/32`, 'via', routerSide]);
      lab.run(router, 'nft', ['add', 'chain', 'ip', NAT_TABLE_NAME, chain]);
      lab.run(router, 'nft', [
        'add',
        'rule',
        'ip',
        NAT_TABLE_NAME,
        'prerouting',
        'ip',
        'daddr',
        `{ ${lb.publicIps.join(', ')} }`,
        'udp',
        'dport',
        String(lb.port),
        'jump',
        chain,
      ]);
      const targets = lb.targets.map((name) => gateways.find((g) => g.gateway.name === name)!);
      loadBalancers.push({ loadBalancer: lb, router, chain, targets });
    }
    // The route table entries the components create: the other sites' ranges (cloud and remote)
    // via this site's active gateway: on AWS the routes of the site's first route table (the EC2
    // service moves them), elsewhere via the first gateway with a public address.
    const table = deployment.routeTables.find((t) => t.site === siteName);
    const elsewhere = [
      ...deployment.gateways.filter((g) => g.site !== siteName).flatMap((g) => g.siteCidrs),
      ...deployment.remoteSites.flatMap((r) => r.cidrs),
    ];
    if (table) {
      routeTableRouters[table.id] = router;
      for (const route of table.routes) {
        const via = gateways.find((g) => g.gateway.networkInterfaceId === route.networkInterfaceId)!;
        lab.run(router, 'ip', ['route', 'replace', route.destination, 'via', via.privateIp]);
      }
    } else {
      const first = gateways.find((g) => g.site === site && g.gateway.publicIp !== '' && !g.gateway.standby)!;
      for (const cidr of elsewhere) lab.run(router, 'ip', ['route', 'replace', cidr, 'via', first.privateIp]);
    }
    for (const cidr of elsewhere) lab.run(lanHost, 'ip', ['route', 'replace', cidr, 'via', lanRouter]);
    lab.run(router, 'ip', ['route', 'add', '198.18.200.0/24', 'via', inetSide]);
  });
  const remotes = deployment.remoteSites.map((remote, index) => buildRemoteSite(lab, inet, remote, index, deployment));
  return { inet, edge, sites, gateways, remotes, loadBalancers, routeTableRouters };
}

/**
 * A remote site: a router namespace with its public address (sending from it), a LAN host behind it
 * in the site's first range (a.b.2.10), routes to the clouds' sites through the router. The tunnel
 * itself is the router's WireGuard interface, which lab.ts starts.
 */
function buildRemoteSite(
  lab: Lab,
  inet: string,
  remote: LabRemoteSite,
  index: number,
  deployment: LabDeployment,
): RemoteSiteNetwork {
  const router = lab.namespace(`rem${index}`);
  sysctl(lab, router, { 'net.ipv4.ip_forward': '1' });
  const inetSide = `198.18.${30 + index}.1`;
  const routerSide = `198.18.${30 + index}.2`;
  lab.link(inet, router, { a: [`${inetSide}/30`], b: [`${routerSide}/30`, `${remote.publicIp}/32`] });
  lab.run(inet, 'ip', ['route', 'add', `${remote.publicIp}/32`, 'via', routerSide]);
  for (const prefix of LAB_PUBLIC_PREFIXES)
    lab.run(router, 'ip', ['route', 'add', prefix, 'via', inetSide, 'src', remote.publicIp]);
  const lanHost = lab.namespace(`rlan${index}`);
  const lanAddress = subnetOf(remote.cidrs[0]!, 2, 10);
  const lanRouter = subnetOf(remote.cidrs[0]!, 2, 1);
  lab.link(router, lanHost, { a: [`${lanRouter}/24`], b: [`${lanAddress}/24`] });
  for (const cidr of deployment.gateways.flatMap((g) => g.siteCidrs))
    lab.run(lanHost, 'ip', ['route', 'replace', cidr, 'via', lanRouter]);
  return { remote, site: remote.name, router, lanHost, lanAddress, lanRouter };
}

const NAT_TABLE = [
  `table ip ${NAT_TABLE_NAME} {`,
  '  chain prerouting { type nat hook prerouting priority dstnat; }',
  '  chain postrouting { type nat hook postrouting priority srcnat; }',
  '}',
  '',
].join('\n');

/** 1:1 NAT of a gateway's public address, as the cloud's Elastic IP / external address does. */
function oneToOneNat(publicIp: string, privateIp: string, uplink: string): string {
  return [
    `add rule ip ${NAT_TABLE_NAME} prerouting ip daddr ${publicIp} dnat to ${privateIp}`,
    `add rule ip ${NAT_TABLE_NAME} postrouting oifname "${uplink}" ip saddr ${privateIp} snat to ${publicIp}`,
    '',
  ].join('\n');
}
