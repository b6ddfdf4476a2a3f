/**
 * The agent's Prometheus metrics, on a registry of its own. Plane-derived values are computed at
 * scrape time from a single `collect()` call per scrape; agent events are recorded as they happen.
 *
 * Counting rules:
 * - Byte and drop totals are the plane's own cumulative counters, so they are exposed as counters
 *   mirrored at scrape (Prometheus' advice for counters from another system). A plane restart shows
 *   as a counter reset, which rate() and increase() already handle.
 * - `wiremesh_handshake_failures_total` has exactly one source per reason: the reasons in
 *   DROP_DERIVED_HANDSHAKE_FAILURES come only from PlaneStats.drops deltas, the rest only from
 *   recordHandshakeFailure. The types keep the two sets apart, so nothing is counted twice. These
 *   failures are also in `wiremesh_packet_drops_total`; do not add the two metrics together.
 *
 * Per-peer series carry the labels dashboards built for prometheus_wireguard_exporter expect:
 * `interface` and `public_key` (and `allowed_ips`, comma-separated, when enabled: it changes with
 * the configuration and can be long, so it is off by default), beside our `peer` name. The
 * process_* and nodejs_* series are prom-client's defaults (memory, CPU, event loop lag).
 */
import type * as PromClient from 'prom-client';
import type { Registry } from 'prom-client';
import { REJECT_AFTER_TIME } from '../core/constants';
import type { DropReason } from '../core/messages';
import type { PeerStats, PlaneStats } from './stats';

// prom-client's lib/ files, not its index: the index also loads its Pushgateway (http, https, tls,
// zlib) and cluster aggregator (cluster), about 3 MB of an idle agent's RSS that it never uses.
// Each file exports the one class (or function) the index re-exports; the types are the index's.
const Counter = require('prom-client/lib/counter') as typeof PromClient.Counter;
const Gauge = require('prom-client/lib/gauge') as typeof PromClient.Gauge;
const Histogram = require('prom-client/lib/histogram') as typeof PromClient.Histogram;
const PromRegistry = require('prom-client/lib/registry') as typeof PromClient.Registry;
const collectDefaultMetrics = require('prom-client/lib/defaultMetrics') as typeof PromClient.collectDefaultMetrics;

/** Drop reasons where each drop is one rejected handshake message, so a drop delta is a failure count. */
export const DROP_DERIVED_HANDSHAKE_FAILURES = [
  'invalid-mac1',
  'cookie-required',
  'rate-limited',
  'handshake-decrypt-failed',
  'unknown-peer',
  'replayed-timestamp',
  'initiation-flood',
  'unexpected-response',
  'invalid-cookie-reply',
] as const satisfies readonly DropReason[];

/**
 * Failures only the agent can count. 'handshake-gave-up' is here rather than drop-derived: the core
 * counts one such drop per staged packet it discards (0 to 128 per give-up), while the DeviceEvent
 * fires once per abandoned handshake.
 */
export type RecordedHandshakeFailure = 'handshake-gave-up';

export type HandshakeRole = 'initiator' | 'responder';
export type ConfigApplyResult = 'applied' | 'unchanged' | 'rejected' | 'failed';

export interface AgentMetricsOptions {
  collect: () => PlaneStats;
  /** The `interface` label of every per-peer series. */
  interfaceName: string;
  /** Adds the `allowed_ips` label to the byte and handshake-time series. */
  allowedIpsLabel?: boolean;
  keyCreatedAtUnixMs: () => number | null;
  /** Unix ms; injectable for tests. */
  now?: () => number;
}

export interface AgentMetrics {
  readonly registry: Registry;
  recordHandshake(peer: PeerIdentity, role: HandshakeRole): void;
  recordHandshakeFailure(reason: RecordedHandshakeFailure): void;
  recordConfigApply(result: ConfigApplyResult, durationSeconds: number): void;
  /** `source` names a secret store backend (a handful of values), never a secret's name or path. */
  recordSecretFetchFailure(source: string): void;
  setSecretStoreHealthy(healthy: boolean): void;
  /** A takeover of a gateway group's routes by this member, or an attempt the cloud refused. */
  recordFailoverTakeover(result: 'succeeded' | 'failed'): void;
  /** This member's failover role; the series is absent on agents without failover. */
  setFailoverRole(role: 'unknown' | 'active' | 'standby'): void;
}

/** What names a peer in handshake counts, which are recorded as they happen. */
export type PeerIdentity = Pick<PeerStats, 'name' | 'publicKey'>;

interface ScrapeSnapshot {
  stats: PlaneStats;
  nowUnixMs: number;
  keyCreatedAtUnixMs: number | null;
}

const HANDSHAKE_ROLES: readonly HandshakeRole[] = ['initiator', 'responder'];
const CONFIG_APPLY_RESULTS: readonly ConfigApplyResult[] = ['applied', 'unchanged', 'rejected', 'failed'];
/** From a fast `unchanged` to an apply that waits on a slow secret store. */
const CONFIG_APPLY_BUCKETS_SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export function createAgentMetrics(options: AgentMetricsOptions): AgentMetrics {
  const now = options.now ?? Date.now;
  const registry = new PromRegistry();
  const registers = [registry];
  const lastDropTotals = new Map<string, number>();
  collectDefaultMetrics({ register: registry });

  const identityLabels = ['peer', 'interface', 'public_key'] as const;
  const peerLabelNames = options.allowedIpsLabel ? [...identityLabels, 'allowed_ips'] : [...identityLabels];
  const identity = (peer: PeerIdentity): Record<(typeof identityLabels)[number], string> => ({
    peer: peer.name,
    interface: options.interfaceName,
    public_key: peer.publicKey,
  });
  const peerLabels = (peer: PeerStats): Record<string, string> =>
    options.allowedIpsLabel ? { ...identity(peer), allowed_ips: peer.allowedIps.join(',') } : identity(peer);

  // prom-client calls every metric's collect() synchronously in one registry.metrics() pass, so a
  // snapshot kept until the next microtask serves a whole scrape with one collect() call.
  let snapshot: ScrapeSnapshot | null = null;
  function scrape(): ScrapeSnapshot {
    if (snapshot === null) {
      const taken = { stats: options.collect(), nowUnixMs: now(), keyCreatedAtUnixMs: options.keyCreatedAtUnixMs() };
      snapshot = taken;
      queueMicrotask(() => {
        snapshot = null;
      });
      countDropDerivedFailures(taken.stats.drops);
    }
    return snapshot;
  }

  function countDropDerivedFailures(drops: Record<string, number>): void {
    for (const reason of DROP_DERIVED_HANDSHAKE_FAILURES) {
      const total = drops[reason] ?? 0;
      const previous = lastDropTotals.get(reason) ?? 0;
      // A total below the last one means the plane restarted its counters: all of it is new.
      const delta = total >= previous ? total - previous : total;
      if (delta > 0) handshakeFailures.inc({ reason }, delta);
      lastDropTotals.set(reason, total);
    }
  }

  function handshakeAgeMs(peer: PeerStats, nowUnixMs: number): number | null {
    return peer.lastHandshakeUnixMs === 0 ? null : Math.max(0, nowUnixMs - peer.lastHandshakeUnixMs);
  }

  new Gauge({
    name: 'wiremesh_interface_up',
    help: 'Whether the WireGuard interface is up (1) or down (0).',
    registers,
    collect() {
      this.set(scrape().stats.interfaceUp ? 1 : 0);
    },
  });

  new Gauge({
    name: 'wiremesh_peers',
    help: 'Peers configured on the interface.',
    registers,
    collect() {
      this.set(scrape().stats.peers.length);
    },
  });

  new Gauge({
    name: 'wiremesh_active_peers',
    help: `Peers whose last handshake is younger than ${REJECT_AFTER_TIME / 1000} s, i.e. with a session that can carry data.`,
    registers,
    collect() {
      const { stats, nowUnixMs } = scrape();
      this.set(
        stats.peers.filter((peer) => {
          const age = handshakeAgeMs(peer, nowUnixMs);
          return age !== null && age < REJECT_AFTER_TIME;
        }).length,
      );
    },
  });

  const handshakes = new Counter({
    name: 'wiremesh_handshakes_total',
    help: 'Handshakes completed, by peer and local role.',
    labelNames: [...identityLabels, 'role'],
    registers,
    collect() {
      // Zero series for every configured peer, so the first handshake shows in increase().
      for (const peer of scrape().stats.peers) {
        for (const role of HANDSHAKE_ROLES) this.inc({ ...identity(peer), role }, 0);
      }
    },
  });

  const handshakeFailures = new Counter({
    name: 'wiremesh_handshake_failures_total',
    help: "Handshake messages rejected (from the plane's drop counters) and handshakes abandoned, by reason.",
    labelNames: ['reason'],
    registers,
    collect() {
      scrape();
    },
  });

  new Counter({
    name: 'wiremesh_packet_drops_total',
    help: 'Datagrams and packets dropped by the data plane, by reason; absent for planes that cannot tell.',
    labelNames: ['reason'],
    registers,
    collect() {
      this.reset();
      for (const [reason, total] of Object.entries(scrape().stats.drops)) this.inc({ reason }, total);
    },
  });

  new Counter({
    name: 'wiremesh_peer_receive_bytes_total',
    help: 'Bytes received from the peer, as counted by the data plane.',
    labelNames: peerLabelNames,
    registers,
    collect() {
      this.reset();
      for (const peer of scrape().stats.peers) this.inc(peerLabels(peer), peer.rxBytes);
    },
  });

  new Counter({
    name: 'wiremesh_peer_transmit_bytes_total',
    help: 'Bytes sent to the peer, as counted by the data plane.',
    labelNames: peerLabelNames,
    registers,
    collect() {
      this.reset();
      for (const peer of scrape().stats.peers) this.inc(peerLabels(peer), peer.txBytes);
    },
  });

  new Gauge({
    name: 'wiremesh_peer_last_handshake_age_seconds',
    help: "Seconds since the peer's last completed handshake; absent for peers that never completed one.",
    labelNames: peerLabelNames,
    registers,
    collect() {
      this.reset();
      const { stats, nowUnixMs } = scrape();
      for (const peer of stats.peers) {
        const age = handshakeAgeMs(peer, nowUnixMs);
        if (age !== null) this.set(peerLabels(peer), age / 1000);
      }
    },
  });

  new Gauge({
    name: 'wiremesh_peer_last_handshake_timestamp_seconds',
    help: "Unix time of the peer's last completed handshake; 0 until the first (as `wg show` and wireguard_latest_handshake_seconds).",
    labelNames: peerLabelNames,
    registers,
    collect() {
      this.reset();
      for (const peer of scrape().stats.peers) this.set(peerLabels(peer), Math.floor(peer.lastHandshakeUnixMs / 1000));
    },
  });

  new Gauge({
    name: 'wiremesh_peer_using_next_key',
    help: "Key rotation state: 1 when the peer's session uses the next local key, 0 for the current one; absent when the plane cannot tell.",
    labelNames: [...identityLabels],
    registers,
    collect() {
      this.reset();
      for (const peer of scrape().stats.peers) {
        if (peer.localKey !== undefined) this.set(identity(peer), peer.localKey === 'next' ? 1 : 0);
      }
    },
  });

  new Gauge({
    name: 'wiremesh_key_age_seconds',
    help: "Age of the interface's current private key, from its creation in the store (AWS version CreatedDate, GCP version createTime, a key file's mtime); absent when unknown.",
    registers,
    collect() {
      const { keyCreatedAtUnixMs, nowUnixMs } = scrape();
      if (keyCreatedAtUnixMs === null) this.remove();
      else this.set(Math.max(0, nowUnixMs - keyCreatedAtUnixMs) / 1000);
    },
  });

  const configApplies = new Counter({
    name: 'wiremesh_config_applies_total',
    help: 'Configuration applies, by result: the one at start, then each reload.',
    labelNames: ['result'],
    registers,
  });
  const configApplyDuration = new Histogram({
    name: 'wiremesh_config_apply_duration_seconds',
    help: 'Time taken by configuration applies, by result.',
    labelNames: ['result'],
    buckets: CONFIG_APPLY_BUCKETS_SECONDS,
    registers,
  });
  for (const result of CONFIG_APPLY_RESULTS) {
    configApplies.inc({ result }, 0);
    configApplyDuration.zero({ result });
  }

  const secretFetchFailures = new Counter({
    name: 'wiremesh_secret_fetch_failures_total',
    help: 'Failed secret store fetches, by secret store source.',
    labelNames: ['source'],
    registers,
  });

  const secretStoreReachable = new Gauge({
    name: 'wiremesh_secret_store_reachable',
    help: "Whether the secret store was reachable at the agent's last check (1) or not (0); absent until the first check.",
    registers,
  });
  // Absent rather than a misleading 0 until the agent has checked the store.
  secretStoreReachable.remove();

  // Created on first use: an agent without a failover section has no such series.
  let failoverTakeovers: PromClient.Counter | null = null;
  let failoverActive: PromClient.Gauge | null = null;
  const takeovers = (): PromClient.Counter =>
    (failoverTakeovers ??= new Counter({
      name: 'wiremesh_failover_takeovers_total',
      help: "Takeovers of the gateway group's routes by this member, by result (failed: the cloud API refused).",
      labelNames: ['result'],
      registers,
    }));

  return {
    registry,
    recordHandshake: (peer, role) => handshakes.inc({ ...identity(peer), role }),
    recordHandshakeFailure: (reason) => handshakeFailures.inc({ reason }),
    recordConfigApply: (result, durationSeconds) => {
      configApplies.inc({ result });
      configApplyDuration.observe({ result }, durationSeconds);
    },
    recordSecretFetchFailure: (source) => secretFetchFailures.inc({ source }),
    setSecretStoreHealthy: (healthy) => secretStoreReachable.set(healthy ? 1 : 0),
    recordFailoverTakeover: (result) => takeovers().inc({ result }),
    setFailoverRole: (role) => {
      const counter = takeovers();
      if (failoverActive === null) {
        for (const result of ['succeeded', 'failed']) counter.inc({ result }, 0);
        failoverActive = new Gauge({
          name: 'wiremesh_failover_active',
          help: "Whether this member holds the gateway group's routes (1), is a standby (0); absent while unknown.",
          registers,
        });
      }
      if (role === 'unknown') failoverActive.remove();
      else failoverActive.set(role === 'active' ? 1 : 0);
    },
  };
}
