/**
 * The mesh spec: one description of the sites of a WireGuard site-to-site mesh and who talks to
 * whom, from which every gateway's agent configuration is derived (mesh/planner.ts). The same spec
 * drives the cloud (components/) and the local target (mesh/local/). Its JSON Schema is
 * mesh/spec-schema.ts, published as schemas/mesh-spec.schema.json.
 */
export type Provider = 'aws' | 'gcp' | 'local' | 'external';

export interface SiteSpec {
  /**
   * Unique; 1 to 32 letters, digits and dashes, starting and ending with a letter or digit (it
   * names namespaces, resources and peers). A site with several gateways names them `${name}-N`.
   */
  name: string;
  provider: Provider;
  /**
   * The site's own address ranges (its LAN), CIDR notation without host bits; never overlapping
   * another site's. The first one holds the gateways' tunnel addresses (hosts 1, 2, ... of it).
   */
  cidrs: string[];
  /** Gateways at the site (default 1); several share one key behind a load balancer. */
  gateways?: number;
  /**
   * host:port where the site's gateways are reached. Absent when the site is behind NAT; required
   * otherwise, except for `local` sites (the local target assigns theirs).
   */
  endpoint?: string;
  /**
   * The site cannot be reached from outside; it keeps its tunnels open with persistent keepalive.
   * Never a hub; in a full mesh, at most one site (two NATed sites cannot reach each other).
   */
  behindNat?: boolean;
  /** For `external` sites, which run plain WireGuard: their existing public key (base64). */
  publicKey?: string;
  /** Spokes route everything (0.0.0.0/0, ::/0) to this site: only for one hub, the full-tunnel egress. */
  fullTunnel?: boolean;
  /** Provider-specific settings (region, zones, instance type, ...), read by the components. */
  cloud?: Record<string, unknown>;
}

/**
 * hub-and-spoke: spokes peer with every hub, hubs with every site; spoke-to-spoke traffic goes
 * through `hubs[0]`, the primary. full-mesh: every site peers with every other.
 */
export type TopologySpec = { type: 'hub-and-spoke'; hubs: string[] } | { type: 'full-mesh' };

export interface MeshDefaults {
  /** UDP port of every gateway (default 51820). */
  listenPort?: number;
  /** Inner MTU (default 1420: a 1500-byte underlay minus 80 bytes of IPv6 encapsulation). */
  mtu?: number;
  /** Keepalive for tunnels with a side behind NAT, seconds (default 25); the NATed side sends it. */
  persistentKeepalive?: number;
}

export interface MeshSpec {
  name: string;
  topology: TopologySpec;
  defaults?: MeshDefaults;
  sites: SiteSpec[];
  /** Pairs of sites whose tunnel also uses a preshared key (post-quantum hedge); each pair once. */
  presharedKeys?: { sites: [string, string] }[];
}
