/**
 * The gateway's health verdict for load balancers and operators. Healthy means it forwards: the
 * interface is up and every required peer has a recent handshake. Secret store trouble is reported
 * but does not gate health, because the keys already applied keep the tunnels working and taking
 * a forwarding gateway out of rotation would turn a control-plane problem into an outage.
 */
import type { PlaneStats } from './stats';

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
    : { name: 'secret-store', ok: false, detail: 'unreachable; does not affect health while the tunnels forward with the keys already applied' };
  return { healthy: gating.every((check) => check.ok), checks: [...gating, secretStore] };
}

/**
 * Before the interface is up: not healthy (503), with what the agent is waiting for, so a store
 * outage at boot reads as "starting: fetching keys: ..." rather than a refused connection.
 */
export function startingHealth(reason: string): HealthReport & { status: 'starting'; reason: string } {
  return { status: 'starting', reason, healthy: false, checks: [{ name: 'start', ok: false, detail: reason }] };
}
