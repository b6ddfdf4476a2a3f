/**
 * What every data plane (userspace, kernel, wireguard-go) reports to the observability layer. The
 * planes give cumulative totals since the interface came up; metrics.ts turns them into series.
 */
export interface PeerStats {
  /** The operator's name for the peer. */
  name: string;
  /** Base64 public key; public (a metric label, as in prometheus_wireguard_exporter), logged only in short form. */
  publicKey: string;
  /** The peer's allowed IPs in CIDR notation. */
  allowedIps: string[];
  endpoint: string | null;
  rxBytes: number;
  txBytes: number;
  /** Unix ms of the last completed handshake; 0 = never. */
  lastHandshakeUnixMs: number;
  /** Which local key the peer's session uses during a key rotation; absent when the plane cannot tell. */
  localKey?: 'current' | 'next';
}

export interface PlaneStats {
  interfaceUp: boolean;
  peers: PeerStats[];
  /** Cumulative packet drops by reason (the core's DropReason values); empty for planes that cannot tell. */
  drops: Record<string, number>;
}
