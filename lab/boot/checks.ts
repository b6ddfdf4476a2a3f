/**
 * What the boot lab checks once the gateways are up, and the rotation measurement:
 * - every gateway reaches agent.ready (lab.follow names the failing step otherwise);
 * - each site's LAN host pings every other site's LAN host, across the tunnels;
 * - every tunnel has handshaken (the VM's own `wg show`);
 * - /healthz answers on the health port from the site router (where the load balancer probes from);
 * - /metrics is not reachable from there (it listens on loopback).
 * Rotation: deploy again with the clock past the key epoch, write the new secret versions as the
 * engine would, and watch a steady ping between two sites' LAN hosts: replies lost, and seconds until
 * replies come back.
 */
import { spawn } from 'node:child_process';
import { DEFAULT_MAX_KEY_AGE_DAYS } from '../../components/key';
import { runDeployment, type BootLab, type GatewayTimings } from './lab';

export interface MeshReport {
  pings: Array<{ from: string; to: string; received: number; sent: number }>;
  handshakes: Record<string, boolean>;
  health: Record<string, { status?: number; body?: string; error?: string }>;
  metricsFromOutside: Record<string, { status?: number; error?: string }>;
}

export async function waitForGateways(lab: BootLab, gateways = lab.gateways): Promise<GatewayTimings[]> {
  return Promise.all(gateways.map((g) => lab.follow(g, 'agent.ready')));
}

export async function checkMesh(lab: BootLab, gateways = lab.gateways): Promise<MeshReport> {
  await waitForGateways(lab, gateways);
  const sites = [
    ...lab.network.sites.filter((s) => gateways.some((g) => g.network.site === s)),
    ...lab.network.remotes,
  ];
  const report: MeshReport = { pings: [], handshakes: {}, health: {}, metricsFromOutside: {} };
  const pairs = sites.flatMap((from) => sites.filter((to) => to !== from).map((to) => [from, to] as const));
  // The first pings start the handshakes; allow for them, in every direction first: a hub, whose
  // document has no endpoints, reaches a spoke only once the spoke has dialled it.
  for (const [from, to] of pairs) await lab.ping(from.lanHost, to.lanAddress, 2);
  for (const [from, to] of pairs) {
    report.pings.push({
      from: from.site,
      to: to.site,
      received: await lab.ping(from.lanHost, to.lanAddress, 5),
      sent: 5,
    });
  }
  for (const g of gateways) {
    const name = g.network.gateway.name;
    report.handshakes[name] = (await lab.handshakes(g)).every((t) => t > 0);
    if (report.handshakes[name]) await lab.follow(g, 'handshake', 5_000);
    report.health[name] = await lab.httpFrom(g.network.site.router, lab.healthUrl(g.network));
    const metrics = await lab.httpFrom(g.network.site.router, lab.metricsUrl(g.network));
    report.metricsFromOutside[name] =
      metrics.status !== undefined ? { status: metrics.status } : { error: metrics.error! };
  }
  return report;
}

/**
 * What is wrong in a report: a lost ping, a gateway without a handshake (a group's standby has
 * none: it holds the key without dialling), a /healthz other than 200, /metrics reachable.
 */
export function meshProblems(lab: BootLab, report: MeshReport): string[] {
  const problems = report.pings
    .filter((p) => p.received !== p.sent)
    .map((p) => `ping ${p.from} -> ${p.to}: ${p.received}/${p.sent} replies`);
  for (const g of lab.gateways) {
    const name = g.network.gateway.name;
    if (report.handshakes[name] === undefined) continue;
    if (!g.network.gateway.standby && !report.handshakes[name]) problems.push(`${name}: no handshake`);
    if (report.health[name]?.status !== 200) problems.push(`${name}: /healthz ${JSON.stringify(report.health[name])}`);
    if (report.metricsFromOutside[name]?.status !== undefined)
      problems.push(`${name}: /metrics reachable from outside`);
  }
  return problems;
}

/** A steady ping's outcome around an event (a secret push, a gateway killed), in seconds after it. */
export interface PingOutcome {
  pingIntervalSeconds: number;
  sent: number;
  lost: number;
  /** Seconds from the event to the first reply after the outage (0: none lost; null: never came back). */
  recoverySeconds: number | null;
  /** Seconds from the event to the first lost reply. */
  outageStartSeconds: number | null;
  observedSeconds: number;
  /** Replies that came after ping's 1 s "no answer yet" (held while a handshake was pending). */
  lateReplies: number;
  /**
   * The longest time without a reply from the last one before the event on, in seconds (to the end
   * of the observation when replies never came back).
   */
  longestGapSeconds: number;
}

/**
 * Pings `to` from namespace `ns` every `interval` s for `observeSeconds`; `event` runs 3 s in and
 * the outcome is measured from its start.
 */
async function pingAround<T>(
  ns: string,
  to: string,
  observeSeconds: number,
  interval: number,
  event: () => Promise<T>,
): Promise<{ outcome: PingOutcome; eventAt: number; result: T }> {
  const count = Math.round(observeSeconds / interval);
  const ping = spawn(
    'ip',
    ['netns', 'exec', ns, 'ping', '-n', '-D', '-O', '-i', String(interval), '-W', '1', '-c', String(count), to],
    {
      stdio: ['ignore', 'pipe', 'ignore'],
    },
  );
  let output = '';
  ping.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const done = new Promise<void>((resolve) => ping.on('exit', () => resolve()));
  await new Promise((resolve) => setTimeout(resolve, 3000));
  const eventAt = Date.now() / 1000;
  const result = await event();
  await done;
  const endAt = Date.now() / 1000;
  const lines = output.split('\n');
  const replies = lines.flatMap((l) => {
    const m = /^\[(\d+\.\d+)\] \d+ bytes from .* icmp_seq=(\d+)/.exec(l);
    return m ? [{ at: Number(m[1]), seq: Number(m[2]) }] : [];
  });
  const missing = lines.flatMap((l) => {
    const m = /^\[(\d+\.\d+)\] no answer yet for icmp_seq=(\d+)/.exec(l);
    return m ? [{ at: Number(m[1]), seq: Number(m[2]) }] : [];
  });
  const received = new Set(replies.map((r) => r.seq));
  const lostSeqs = missing.map((m) => m.seq).filter((seq) => !received.has(seq));
  const firstLost = missing.find((m) => !received.has(m.seq));
  const recovered = firstLost ? replies.find((r) => r.seq > Math.max(...lostSeqs)) : undefined;
  const before = replies.filter((r) => r.at < eventAt).pop();
  const times = [...(before ? [before.at] : []), ...replies.filter((r) => r.at >= eventAt).map((r) => r.at)];
  if (firstLost && !recovered) times.push(endAt);
  const longestGap = times.reduce((gap, at, i) => (i === 0 ? gap : Math.max(gap, at - times[i - 1]!)), 0);
  return {
    eventAt,
    result,
    outcome: {
      pingIntervalSeconds: interval,
      sent: count,
      lost: count - received.size,
      outageStartSeconds: firstLost ? Math.max(0, firstLost.at - eventAt) : null,
      recoverySeconds: firstLost ? (recovered ? recovered.at - eventAt : null) : 0,
      observedSeconds: observeSeconds,
      lateReplies: missing.filter((m) => received.has(m.seq)).length,
      longestGapSeconds: Math.round(longestGap * 1000) / 1000,
    },
  };
}

export interface RotationReport extends PingOutcome {
  changedSecrets: number;
  /** Per gateway, seconds after the push: the new document applied, the first handshake after it. */
  gateways: Record<string, { appliedSeconds: number | null; handshakeSeconds: number | null }>;
}

/** Seconds after `since` (unix s) of the first agent log event named `event` after `since`. */
function eventAfter(log: string, event: string, since: number, after = since): number | null {
  for (const line of log.split('\n')) {
    if (!line.includes(`"event":"${event}"`)) continue;
    const time = /"time":"([^"]+)"/.exec(line)?.[1];
    const at = time ? Date.parse(time) / 1000 : NaN;
    if (at >= after) return at - since;
  }
  return null;
}

/**
 * Second deploy with the clock `DEFAULT_MAX_KEY_AGE_DAYS` days on (past the key epoch), the new
 * secret versions pushed, and a ping every 0.2 s from the first site's LAN host to the second's for
 * `observeSeconds`.
 */
export async function measureRotation(lab: BootLab, observeSeconds = 120): Promise<RotationReport> {
  const [from, to] = lab.network.sites;
  if (!from || !to) throw new Error('rotation needs two sites');
  const next = await runDeployment(
    lab.deployment.example,
    lab.agentArtifact(),
    DEFAULT_MAX_KEY_AGE_DAYS * 86_400_000,
    lab.workDirectory,
  );
  const {
    outcome,
    eventAt,
    result: changed,
  } = await pingAround(from.lanHost, to.lanAddress, observeSeconds, 0.2, () => lab.pushSecrets(next));
  const gateways: RotationReport['gateways'] = {};
  for (const g of lab.gateways) {
    const log = (await g.vm.exec(['journalctl', '-u', 'wiremesh-agent', '-o', 'cat', '--no-pager'])) ?? '';
    const applied = eventAfter(log, 'config.applied', eventAt);
    gateways[g.network.gateway.name] = {
      appliedSeconds: applied,
      handshakeSeconds: applied === null ? null : eventAfter(log, 'handshake.complete', eventAt, eventAt + applied),
    };
  }
  return { changedSecrets: changed.length, ...outcome, gateways };
}

export interface FailoverReport extends PingOutcome {
  killed: string;
}

/**
 * A group's active gateway killed mid-transfer (its container's init gets SIGKILL: the instance
 * dies, nothing shuts down), while the spoke's LAN host pings the group's LAN host every 0.1 s for
 * `observeSeconds`. What happens next is the deployment's: nothing in the lab re-points the
 * load balancer or the routes.
 */
export async function measureFailover(lab: BootLab, observeSeconds = 60): Promise<FailoverReport> {
  const [lb] = lab.deployment.loadBalancers;
  if (!lb) throw new Error('failover needs a gateway group behind a load balancer (examples/hub-spoke-ha)');
  const group = lab.network.sites.find((s) => s.site === lb.site)!;
  const spoke = lab.network.sites.find((s) => s !== group);
  if (!spoke) throw new Error('failover needs a second site');
  const active = lab.gatewayNamed(lb.target);
  const { outcome } = await pingAround(spoke.lanHost, group.lanAddress, observeSeconds, 0.1, async () => {
    process.kill(active.vm.initPid()!, 'SIGKILL');
  });
  return { killed: lb.target, ...outcome };
}
