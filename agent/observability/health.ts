/**
 * The gateway's health verdict for load balancers and operators. Healthy means it forwards: the
 * interface is up and every required peer has a recent handshake. Secret store trouble is reported
 * but does not gate health, because the keys already applied keep the tunnels working and taking
 * a forwarding gateway out of rotation would turn a control-plane problem into an outage.
 *
 * What a load balancer sees (GET /healthz, 200 or 503): 503 from start until every required peer
 * has completed a handshake, then 200. When a required peer dies, 503 once its last handshake is
 * older than maxHandshakeAgeSeconds: with the default 180 s, between 30 and 180 s after the death
 * (a live peer's handshake is never older than about 150 s, so a dead one turns unhealthy that
 * long after its last), plus the load balancer's own interval times its unhealthy threshold.
 */
import { REKEY_AFTER_TIME } from '../core/constants';
import type { PlaneStats } from './stats';

export const DEFAULT_MAX_HANDSHAKE_AGE_SECONDS = 180;

/**
 * The lowest threshold that does not flap: the initiator of a session starts the next handshake
 * when it sends 120 s (REKEY_AFTER_TIME) after the last, so with a 25 s keepalive and a lost
 * initiation retried 5 s later a live peer's handshake age reaches about 150 s.
 */
export const MIN_MAX_HANDSHAKE_AGE_SECONDS = REKEY_AFTER_TIME / 1000 + 30;

export interface HealthCheck {
  name: string;
  ok: boolean;
  detail: string;
}

export interface HealthReport {
  healthy: boolean;
  checks: HealthCheck[];
}

export interface HealthInputs {
  stats: PlaneStats;
  /** Peer names that must have a recent handshake; empty means the interface being up is enough. */
  requiredPeers: string[];
  maxHandshakeAgeSeconds: number;
  secretStoreHealthy: boolean;
  nowUnixMs: number;
}

export function evaluateHealth(inputs: HealthInputs): HealthReport {
  const { stats, maxHandshakeAgeSeconds, nowUnixMs } = inputs;
  const gating: HealthCheck[] = [
    { name: 'interface', ok: stats.interfaceUp, detail: stats.interfaceUp ? 'up' : 'down' },
  ];
  for (const name of inputs.requiredPeers) {
    const peer = stats.peers.find((candidate) => candidate.name === name);
    const check = { name: `peer:${name}` };
    if (!peer) {
      gating.push({ ...check, ok: false, detail: 'not configured on the interface' });
    } else if (peer.lastHandshakeUnixMs === 0) {
      gating.push({ ...check, ok: false, detail: 'no handshake completed yet' });
    } else {
      // A clock step backwards can put the handshake in the future; that is still recent.
      const ageMs = Math.max(0, nowUnixMs - peer.lastHandshakeUnixMs);
      const ageSeconds = Math.floor(ageMs / 1000);
      const ok = ageMs <= maxHandshakeAgeSeconds * 1000;
      const detail = ok
        ? `last handshake ${ageSeconds} s ago`
        : `last handshake ${ageSeconds} s ago, older than ${maxHandshakeAgeSeconds} s`;
      gating.push({ ...check, ok, detail });
    }
  }
  const secretStore: HealthCheck = inputs.secretStoreHealthy
    ? { name: 'secret-store', ok: true, detail: 'reachable' }
    : {
        name: 'secret-store',
        ok: false,
        detail: 'unreachable; does not affect health while the tunnels forward with the keys already applied',
      };
  return { healthy: gating.every((check) => check.ok), checks: [...gating, secretStore] };
}

/**
 * Before the interface is up: not healthy (503), with what the agent is waiting for, so a store
 * outage at boot reads as "starting: fetching keys: ..." rather than a refused connection, and a
 * refused secret read (access denied) as "refused" with the store's answer.
 */
export function startingHealth(
  reason: string,
  status: 'starting' | 'refused' = 'starting',
): HealthReport & { status: 'starting' | 'refused'; reason: string } {
  return { status, reason, healthy: false, checks: [{ name: 'start', ok: false, detail: reason }] };
}
