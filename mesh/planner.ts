/**
 * The mesh planner: from a mesh spec, every gateway's peers, allowed IPs and routes. A pure,
 * deterministic function (sites and peers sorted by name; identical input, identical output);
 * `agentConfigFor` turns one gateway's plan into its agent configuration.
 *
 * Rules:
 * - External sites run plain WireGuard: they get no GatewayPlan but appear as peers (with the
 *   publicKey of the spec). Every other site has `gateways` plans sharing one key (`publicKeys`).
 * - full-mesh: every site peers with every other; a peer's allowed IPs are its site's CIDRs.
 * - hub-and-spoke with hubs H1..Hn: a hub peers with every other site (hubs and spokes) and allows
 *   each its own CIDRs. A spoke peers with every hub: Hk allows Hk's CIDRs, and the first hub, the
 *   spokes' primary, also every other spoke's CIDRs. So traffic between spokes always goes through
 *   the primary hub; a spoke reaches any other hub directly; hubs reach everything directly. No
 *   CIDR is under two peers of one gateway and a gateway's own CIDRs are under none of its peers.
 *   If the primary fails, spoke-to-spoke traffic stops (hubs still reach every spoke): moving it to
 *   another hub is a spec change (reorder `hubs`), not something the planner guesses.
 * - A `fullTunnel` hub is reached by spokes with 0.0.0.0/0 and ::/0 instead of its CIDRs (only
 *   there may a peer's allowed IPs cover other peers' or the gateway's own: the longest prefix
 *   wins). Hubs reach it with its CIDRs.
 * - Allowed IPs are aggregated (mesh/aggregate.ts): the fewest prefixes covering exactly the
 *   addresses given, never more. Routes of a gateway are the union of its peers' allowed IPs.
 * - Persistent keepalive (defaults.persistentKeepalive, 25) is set by the side behind NAT, on all
 *   of its peers: only its own outgoing packets keep its NAT mapping open, which is the kernel's
 *   guidance. Every other peer entry has 0. An external site behind NAT must set it itself.
 * - Endpoints: options.endpoints[site] ?? site.endpoint; always null for a site behind NAT (it
 *   dials out, and its peers learn where it is from its authenticated packets).
 * - A gateway's tunnel address is host index+1 of its site's first CIDR (see gatewayAddress), a
 *   /32 or /128, which its peers already allow as part of the site's CIDRs.
 */
import { DEFAULT_MTU, WIREGUARD_PORT } from '../common/defaults';
import type { IpPrefix } from '../common/ip';
import { ConfigError, type ConfigProblem } from '../common/validation';
import type {
  AgentConfig,
  DataPlaneKind,
  HealthConfig,
  KeySource,
  ListenConfig,
  PeerConfig,
} from '../agent/gateway/config-types';
import { AddressSet } from './aggregate';
import type { MeshSpec, SiteSpec } from './spec';
import { checkMeshSpec, gatewayAddress } from './validate';

export { DEFAULT_MTU } from '../common/defaults';
export const DEFAULT_LISTEN_PORT = WIREGUARD_PORT;
export const DEFAULT_PERSISTENT_KEEPALIVE = 25;

export interface PlannedPeer {
  site: string;
  publicKey: string;
  /** host:port; null for a site behind NAT, which connects to us. */
  endpoint: string | null;
  /** Aggregated, canonical text. */
  allowedIps: string[];
  /** Seconds; non-zero only on the peers of a gateway behind NAT. */
  persistentKeepalive: number;
  /** The pair is listed in presharedKeys. */
  presharedKey: boolean;
}

export interface GatewayPlan {
  /** The site name, or `${site}-${index + 1}` when the site has several gateways. */
  id: string;
  site: string;
  index: number;
  /** This gateway's tunnel address: host index+1 of the site's first CIDR, /32 or /128. */
  address: string;
  listenPort: number;
  mtu: number;
  /** Hubs forward between spokes. */
  forwards: boolean;
  /** Sorted by site name. */
  peers: PlannedPeer[];
  /** The union of the peers' allowed IPs, aggregated. */
  routes: string[];
}

export interface MeshPlan {
  name: string;
  /** Sorted by site name, then index. */
  gateways: GatewayPlan[];
}

export interface PlanOptions {
  /** Site name -> base64 public key, for every non-external site; external sites use the spec's. */
  publicKeys: Record<string, string>;
  /** Site name -> host:port, overriding the spec (e.g. assigned by the local target). */
  endpoints?: Record<string, string>;
}

const FULL_TUNNEL = ['0.0.0.0/0', '::/0'];

/** Code-unit order, the same on every machine (localeCompare is not). */
function byName(a: { name: string }, b: { name: string }): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

function pairKey(a: string, b: string): string {
  return a < b ? `${a}\u0000${b}` : `${b}\u0000${a}`;
}

const own = (record: Record<string, string> | undefined, key: string): string | undefined =>
  record !== undefined && Object.prototype.hasOwnProperty.call(record, key) ? record[key] : undefined;

export function planMesh(spec: MeshSpec, options: PlanOptions): MeshPlan {
  const { prefixes } = checkMeshSpec(spec);
  const parsed = new Map<SiteSpec, IpPrefix[]>(spec.sites.map((site, i) => [site, prefixes[i]!]));
  const sites = [...spec.sites].sort(byName);
  const keepalive = spec.defaults?.persistentKeepalive ?? DEFAULT_PERSISTENT_KEEPALIVE;
  const listenPort = spec.defaults?.listenPort ?? DEFAULT_LISTEN_PORT;
  const mtu = spec.defaults?.mtu ?? DEFAULT_MTU;

  // Keys and endpoints, checked once: every site is some gateway's peer.
  const problems: ConfigProblem[] = [];
  const keys = new Map<string, string>();
  const keyOwners = new Map<string, string>();
  const endpoints = new Map<string, string | null>();
  for (const site of sites) {
    const external = site.provider === 'external';
    const key = external ? site.publicKey : own(options.publicKeys, site.name);
    if (key === undefined) {
      problems.push({
        path: `publicKeys.${site.name}`,
        message: 'is missing: every site that is not external needs its public key',
      });
    } else {
      const other = keyOwners.get(key);
      if (other !== undefined)
        problems.push({
          path: external ? `sites.${site.name}.publicKey` : `publicKeys.${site.name}`,
          message: `is the same key as site "${other}"'s`,
        });
      keyOwners.set(key, site.name);
      keys.set(site.name, key);
    }
    const endpoint = site.behindNat ? null : (own(options.endpoints, site.name) ?? site.endpoint ?? null);
    if (endpoint === null && !site.behindNat) {
      problems.push({
        path: `endpoints.${site.name}`,
        message: 'is missing: a local site not behind NAT gets its endpoint from the local target',
      });
    }
    endpoints.set(site.name, endpoint);
  }
  if (problems.length > 0) throw new ConfigError(problems, 'mesh plan input');

  const intern = new Map<number | bigint, string>();
  const sets = new Map<string, AddressSet>();
  const texts = new Map<string, string[]>();
  for (const site of sites) {
    const set = AddressSet.of(parsed.get(site)!);
    sets.set(site.name, set);
    texts.set(site.name, set.strings(intern));
  }
  const everything = AddressSet.union(sets.values());
  const presharedPairs = new Set((spec.presharedKeys ?? []).map((entry) => pairKey(entry.sites[0], entry.sites[1])));

  const hubNames = spec.topology.type === 'hub-and-spoke' ? spec.topology.hubs : [];
  const hubs = new Set(hubNames);
  const primary = hubNames[0];
  const hubSites = sites.filter((site) => hubs.has(site.name));
  const fullTunnelHub = hubSites.some((site) => site.fullTunnel === true);
  // What a spoke reaches through its primary hub, before taking its own CIDRs out.
  const primaryReach =
    primary === undefined
      ? AddressSet.EMPTY
      : AddressSet.union([sets.get(primary)!, ...sites.filter((s) => !hubs.has(s.name)).map((s) => sets.get(s.name)!)]);
  // With one hub (or hubs without CIDRs of their own) that is everything: compute it once per spoke.
  const primaryReachesAll = primaryReach.equals(everything);

  const peer = (from: SiteSpec, to: SiteSpec, allowedIps: string[]): PlannedPeer => ({
    site: to.name,
    publicKey: keys.get(to.name)!,
    endpoint: endpoints.get(to.name)!,
    allowedIps,
    persistentKeepalive: from.behindNat ? keepalive : 0,
    presharedKey: presharedPairs.size > 0 && presharedPairs.has(pairKey(from.name, to.name)),
  });

  const gateways: GatewayPlan[] = [];
  for (const site of sites) {
    if (site.provider === 'external') continue;
    const isSpoke = spec.topology.type === 'hub-and-spoke' && !hubs.has(site.name);
    const ownSet = sets.get(site.name)!;
    let peers: PlannedPeer[];
    let routes: string[];
    const reach = everything.minus(ownSet).strings(intern);
    if (isSpoke) {
      const viaPrimary = primaryReachesAll ? reach : primaryReach.minus(ownSet).strings(intern);
      peers = hubSites.map((hub) => {
        if (hub.fullTunnel) return peer(site, hub, [...FULL_TUNNEL]);
        if (hub.name === primary) return peer(site, hub, [...viaPrimary]);
        return peer(site, hub, [...texts.get(hub.name)!]);
      });
      routes = fullTunnelHub ? [...FULL_TUNNEL] : reach;
    } else {
      peers = sites.filter((other) => other !== site).map((other) => peer(site, other, [...texts.get(other.name)!]));
      routes = reach;
    }
    const count = site.gateways ?? 1;
    const first = parsed.get(site)![0]!;
    for (let index = 0; index < count; index++) {
      gateways.push({
        id: count > 1 ? `${site.name}-${index + 1}` : site.name,
        site: site.name,
        index,
        address: gatewayAddress(first, index)!,
        listenPort,
        mtu,
        forwards: hubs.has(site.name),
        peers: index === 0 ? peers : peers.map((p) => ({ ...p, allowedIps: [...p.allowedIps] })),
        routes: index === 0 ? routes : [...routes],
      });
    }
  }
  return { name: spec.name, gateways };
}

export interface AgentConfigOptions {
  interfaceName: string;
  privateKey: KeySource;
  /** The preshared key of a listed pair; called with the two site names sorted, so both ends agree. */
  presharedKey?: (siteA: string, siteB: string) => KeySource;
  metrics?: ListenConfig;
  health?: HealthConfig;
  dataPlane?: DataPlaneKind;
  /**
   * Put the planned tunnel address on the interface (default true). Deployed gateways pass false:
   * host 1 of a VPC, subnet or office LAN is usually its router, and a gateway's own address is
   * already inside its site's CIDR, so it needs none on the tunnel. The local target owns its LANs.
   */
  tunnelAddress?: boolean;
}

/** The agent configuration of one planned gateway (forwarding on, routes as planned). */
export function agentConfigFor(gateway: GatewayPlan, options: AgentConfigOptions): AgentConfig {
  const peers = gateway.peers.map((planned): PeerConfig => {
    let presharedKey: KeySource | undefined;
    if (planned.presharedKey) {
      if (options.presharedKey === undefined) {
        throw new Error(
          `gateway ${gateway.id}: the tunnel to ${planned.site} has a preshared key, but no presharedKey source was given`,
        );
      }
      const [a, b] = [gateway.site, planned.site].sort();
      presharedKey = options.presharedKey(a!, b!);
    }
    const fullTunnel = planned.allowedIps.some((prefix) => FULL_TUNNEL.includes(prefix));
    return {
      name: planned.site,
      publicKey: planned.publicKey,
      ...(presharedKey !== undefined && { presharedKey }),
      ...(planned.endpoint !== null && { endpoint: planned.endpoint }),
      allowedIps: [...planned.allowedIps],
      ...(planned.persistentKeepalive > 0 && { persistentKeepalive: planned.persistentKeepalive }),
      ...(fullTunnel && { fullTunnel: true }),
    };
  });
  return {
    interface: {
      name: options.interfaceName,
      addresses: options.tunnelAddress === false ? [] : [gateway.address],
      listenPort: gateway.listenPort,
      mtu: gateway.mtu,
    },
    privateKey: options.privateKey,
    peers,
    routes: [...gateway.routes],
    forwarding: true,
    ...(options.dataPlane !== undefined && { dataPlane: options.dataPlane }),
    ...(options.metrics !== undefined && { metrics: options.metrics }),
    ...(options.health !== undefined && { health: options.health }),
  };
}
