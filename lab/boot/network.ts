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
 * Each site's first CIDR a.b.0.0/16 holds the gateway subnet a.b.1.0/24 (router .1, gateways .10+)
 * and the LAN subnet a.b.2.0/24 (router .1, LAN host .10). The public addresses come from the
 * deployment (Elastic IP, GCP static address). No namespace has a default route: each gets routes
 * for the lab's own prefixes only, and none is linked to the host's network.
 */
import { Lab } from '../netns';
import type { LabDeployment, LabGateway } from './deployment';

export const EDGE_IP = '198.18.200.10';
export const METADATA_IP = '169.254.169.254';
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

export interface LabNetwork {
  inet: string;
  edge: string;
  sites: SiteNetwork[];
  gateways: GatewayNetwork[];
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
  siteNames.forEach((siteName, index) => {
    const members = deployment.gateways.filter((g) => g.site === siteName);
    const { cloud, siteCidrs } = members[0]!;
    const router = lab.namespace(`vpc${index}`);
    sysctl(lab, router, { 'net.ipv4.ip_forward': '1' });
    const inetSide = `198.18.${10 + index}.1`;
    const routerSide = `198.18.${10 + index}.2`;
    const uplink = lab.link(inet, router, { a: [`${inetSide}/30`], b: [`${routerSide}/30`] });
    const routerGatewaySide = subnetOf(siteCidrs[0]!, 1, 1);
    // The gateway subnet: a bridge on the router that every gateway's veth joins.
    const bridge = lab.name('br');
    lab.run(router, 'ip', ['link', 'add', bridge, 'type', 'bridge']);
    lab.addAddress(router, bridge, `${routerGatewaySide}/24`);
    lab.addAddress(router, bridge, `${METADATA_IP}/32`);
    lab.run(router, 'ip', ['link', 'set', bridge, 'up']);
    const lanHost = lab.namespace(`lan${index}`);
    const lanAddress = subnetOf(siteCidrs[0]!, 2, 10);
    const lanRouter = subnetOf(siteCidrs[0]!, 2, 1);
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
      const privateIp = subnetOf(siteCidrs[0]!, 1, 10 + j);
      const namespace = lab.namespace(`gw${index}${j}`);
      const { deviceA } = lab.link(router, namespace, { a: [], b: [`${privateIp}/24`] });
      lab.run(router, 'ip', ['link', 'set', deviceA, 'master', bridge]);
      // What the cloud network gives an instance: its site's ranges, the metadata service, the
      // internet (here: the lab's public prefixes only), all through the subnet's router.
      for (const prefix of [...siteCidrs, `${METADATA_IP}/32`, ...LAB_PUBLIC_PREFIXES]) {
        lab.run(namespace, 'ip', ['route', 'add', prefix, 'via', routerGatewaySide]);
      }
      gateways.push({ gateway, namespace, privateIp, site });
      if (gateway.publicIp === '') return;
      lab.run(inet, 'ip', ['route', 'add', `${gateway.publicIp}/32`, 'via', routerSide]);
      lab.run(router, 'nft', ['-f', '-'], oneToOneNat(gateway.publicIp, privateIp, uplink.deviceB));
    });
    // Instances without a public address reach the internet through the VPC's NAT gateway.
    lab.run(router, 'nft', [
      'add',
      'rule',
      'ip',
      'wiremesh_lab_nat',
      'postrouting',
      'oifname',
      uplink.deviceB,
      'ip',
      'saddr',
      `${subnetOf(siteCidrs[0]!, 1, 0)}/24`,
      'snat',
      'to',
      routerSide,
    ]);
    // The route table entries the components create: the other sites' ranges via this site's gateway.
    const first = gateways.find((g) => g.site === site && g.gateway.publicIp !== '')!;
    for (const other of deployment.gateways.filter((g) => g.site !== siteName)) {
      for (const cidr of other.siteCidrs) lab.run(router, 'ip', ['route', 'replace', cidr, 'via', first.privateIp]);
    }
    for (const cidr of deployment.gateways.filter((g) => g.site !== siteName).flatMap((g) => g.siteCidrs)) {
      lab.run(lanHost, 'ip', ['route', 'replace', cidr, 'via', lanRouter]);
    }
    lab.run(router, 'ip', ['route', 'add', '198.18.200.0/24', 'via', inetSide]);
  });
  return { inet, edge, sites, gateways };
}

const NAT_TABLE = [
  'table ip wiremesh_lab_nat {',
  '  chain prerouting { type nat hook prerouting priority dstnat; }',
  '  chain postrouting { type nat hook postrouting priority srcnat; }',
  '}',
  '',
].join('\n');

/** 1:1 NAT of a gateway's public address, as the cloud's Elastic IP / external address does. */
function oneToOneNat(publicIp: string, privateIp: string, uplink: string): string {
  return [
    `add rule ip wiremesh_lab_nat prerouting ip daddr ${publicIp} dnat to ${privateIp}`,
    `add rule ip wiremesh_lab_nat postrouting oifname "${uplink}" ip saddr ${privateIp} snat to ${publicIp}`,
    '',
  ].join('\n');
}
