/**
 * The wiremesh-agent configuration document (YAML or JSON). Its JSON Schema is
 * agent/gateway/config-schema.ts, published as schemas/agent-config.schema.json.
 */
import type { SecretSourceConfig } from '../secrets/types';

/**
 * Where a key comes from. `inline` exists only in memory, for keys read from a wg-quick `.conf`
 * (itself checked to be 0600 and root-owned); the schema never accepts it in a document.
 */
export type KeySource = SecretSourceConfig | { source: 'inline'; key: Buffer; description: string };

export type DataPlaneKind = 'auto' | 'userspace' | 'kernel' | 'wireguard-go';

export interface InterfaceConfig {
  /** Interface name, at most 15 characters. */
  name: string;
  /** Addresses of this gateway on the tunnel, CIDR notation. */
  addresses: string[];
  /** UDP port; 0 or absent picks a random one. */
  listenPort?: number;
  /** Inner MTU; 1420 fits a 1500-byte underlay over IPv6. */
  mtu?: number;
  /** SO_MARK for the tunnel's own UDP packets (full-tunnel setups). */
  fwmark?: number;
}

export interface PeerConfig {
  /** A name for logs and metrics, unique in the document. */
  name: string;
  /** The peer's public key, base64. */
  publicKey: string;
  /** The peer's next public key while it rotates its key (base64). */
  nextPublicKey?: string;
  /**
   * When the peer starts using `nextPublicKey` (ISO 8601, UTC). A one-key plane (kernel,
   * wireguard-go) re-creates the peer under that key then, the moment the peer switches by its own
   * `switchAt`; absent: when a later document names that key as `publicKey`.
   */
  switchAt?: string;
  presharedKey?: KeySource;
  /** host:port or [IPv6]:port; absent for peers that connect to us (behind NAT). */
  endpoint?: string;
  /** Least privilege: exactly the prefixes this peer may send from and receive. */
  allowedIps: string[];
  /** Seconds; about 25 for peers behind NAT. */
  persistentKeepalive?: number;
  /** Allows 0.0.0.0/0 or ::/0 in allowedIps (a declared full tunnel). */
  fullTunnel?: boolean;
}

export interface ListenConfig {
  /** host:port, e.g. 0.0.0.0:9587. */
  listen: string;
}

export interface MetricsConfig {
  /** host:port; default 127.0.0.1:9588 (common/defaults.ts METRICS_PORT). */
  listen?: string;
  /**
   * Adds an `allowed_ips` label (comma-separated prefixes) to the per-peer byte and handshake-time
   * series, as prometheus_wireguard_exporter does. Off by default: it changes with every routing
   * change and multiplies series with long values.
   */
  allowedIpsLabel?: boolean;
}

export interface HealthConfig extends ListenConfig {
  /** Peer names that must have a recent handshake for the gateway to be healthy. */
  requiredPeers?: string[];
  /** How recent, in seconds (default 180, at least 150: live peers rekey every 120 s plus a keepalive). */
  maxHandshakeAgeSeconds?: number;
}

/** Where the configuration document comes from: a watched file, or a secret polled by version. */
export type ConfigSourceConfig =
  | Extract<SecretSourceConfig, { source: 'file' }>
  | (Exclude<SecretSourceConfig, { source: 'file' }> & { pollSeconds?: number });

export interface AgentConfig {
  interface: InterfaceConfig;
  privateKey: KeySource;
  /** Present during a key rotation: the key to move every peer to. */
  nextPrivateKey?: KeySource;
  /**
   * When to start using `nextPrivateKey` (ISO 8601, UTC); absent: at once. The peers' documents
   * carry the same instant for this gateway's next key, so one-key devices on both ends switch
   * together (docs/key-rotation.md, "The scheduled switch").
   */
  switchAt?: string;
  peers: PeerConfig[];
  /** Prefixes routed into the tunnel; default: every peer's allowed IPs. */
  routes?: string[];
  dataPlane?: DataPlaneKind;
  /** The userspace data plane's threads (1 = all on the main thread), started with it; default: one per CPU, up to 4, started under load. */
  threads?: number;
  /** Enable IP forwarding (gateways forward between their LAN and the tunnel). Default true. */
  forwarding?: boolean;
  metrics?: MetricsConfig;
  health?: HealthConfig;
  /** Where later versions of this document come from; absent: the file given on the command line. */
  configSource?: ConfigSourceConfig;
  /** Where the agent keeps its status document (JSON: keys held, per-peer key phase), e.g. /run/wiremesh/wg0.status.json. */
  statusFile?: string;
  log?: LogConfig;
  /** Active/standby failover of a gateway group: the standbys move the group's routes off a failed active. */
  failover?: FailoverConfig;
}

/** One gateway of a group: its network interface (the routes' target) and its address in the VPC. */
export interface FailoverMember {
  networkInterfaceId: string;
  /** The member's private address: where its /healthz is probed, and how an agent finds itself. */
  address: string;
}

export interface FailoverConfig {
  /** The cloud API that moves the routes (EC2 ReplaceRoute). */
  provider: 'aws-ec2';
  /** Default: the SDK's resolution (AWS_REGION, or the instance's region through IMDS). */
  region?: string;
  /** Overrides the EC2 endpoint, e.g. a VPC endpoint or a local emulator. */
  endpoint?: string;
  /** Every gateway of the group, in order: the first live standby in this order takes over. */
  members: FailoverMember[];
  /** The route tables whose routes to `destinations` point at the active member. */
  routeTableIds: string[];
  /** The remote sites' prefixes routed through the group. */
  destinations: string[];
  /** Seconds between probes of the other members' /healthz; default 2. */
  probeIntervalSeconds?: number;
  /** Probes in a row that must fail before a member counts as down; default 3. */
  failedProbes?: number;
  /** Milliseconds a probe waits for an answer; default 1000. */
  probeTimeoutMs?: number;
  /** Seconds between reads of the routes (to see another member's takeover); default 10. */
  routeCheckSeconds?: number;
}

export interface LogConfig {
  /** Default: WIREMESH_LOG_LEVEL, else info. Changes on reload apply at once. */
  level?: 'debug' | 'info' | 'warn' | 'error';
  /** File to append JSON lines to (default: WIREMESH_LOG_FILE, else stderr); fixed until restart. */
  file?: string;
}
