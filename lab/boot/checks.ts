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
  const sites = lab.network.sites.filter((s) => gateways.some((g) => g.network.site === s));
  const report: MeshReport = { pings: [], handshakes: {}, health: {}, metricsFromOutside: {} };
  for (const from of sites) {
    for (const to of sites.filter((s) => s !== from)) {
      // The first ping starts the handshake; allow for it.
      await lab.ping(from.lanHost, to.lanAddress, 2);
      report.pings.push({
        from: from.site,
        to: to.site,
        received: await lab.ping(from.lanHost, to.lanAddress, 5),
        sent: 5,
      });
    }
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

export interface RotationReport {
  changedSecrets: number;
  pingIntervalSeconds: number;
  sent: number;
  lost: number;
  /** Seconds from the push of the new versions to the first reply after the outage (0: none lost). */
  recoverySeconds: number | null;
  /** Seconds from the push to the first lost reply. */
  outageStartSeconds: number | null;
  observedSeconds: number;
  /** Replies that came after ping's 1 s "no answer yet" (held while a handshake was pending). */
  lateReplies: number;
  /** The longest gap between two replies after the push, in seconds. */
  longestGapSeconds: number;
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
  const interval = 0.2;
  const count = Math.round(observeSeconds / interval);
  const ping = spawn(
    'ip',
    [
      'netns',
      'exec',
      from.lanHost,
      'ping',
      '-n',
      '-D',
      '-O',
      '-i',
      String(interval),
      '-W',
      '1',
      '-c',
      String(count),
      to.lanAddress,
    ],
    {
      stdio: ['ignore', 'pipe', 'ignore'],
    },
  );
  let output = '';
  ping.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const done = new Promise<void>((resolve) => ping.on('exit', () => resolve()));
  await new Promise((resolve) => setTimeout(resolve, 3000));
  const pushedAt = Date.now() / 1000;
  const changed = await lab.pushSecrets(next);
  await done;
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
  const afterPush = replies.filter((r) => r.at >= pushedAt).map((r) => r.at);
  const longestGap = afterPush.reduce((gap, at, i) => (i === 0 ? gap : Math.max(gap, at - afterPush[i - 1]!)), 0);
  const gateways: RotationReport['gateways'] = {};
  for (const g of lab.gateways) {
    const log = (await g.vm.exec(['journalctl', '-u', 'wiremesh-agent', '-o', 'cat', '--no-pager'])) ?? '';
    const applied = eventAfter(log, 'config.applied', pushedAt);
    gateways[g.network.gateway.name] = {
      appliedSeconds: applied,
      handshakeSeconds: applied === null ? null : eventAfter(log, 'handshake.complete', pushedAt, pushedAt + applied),
    };
  }
  const lostSeqs = missing.map((m) => m.seq).filter((s) => !received.has(s));
  const firstLost = missing.find((m) => !received.has(m.seq));
  const recovered = firstLost ? replies.find((r) => r.seq > Math.max(...lostSeqs)) : undefined;
  return {
    changedSecrets: changed.length,
    pingIntervalSeconds: interval,
    sent: count,
    lost: count - received.size,
    outageStartSeconds: firstLost ? Math.max(0, firstLost.at - pushedAt) : null,
    recoverySeconds: firstLost ? (recovered ? recovered.at - pushedAt : null) : 0,
    observedSeconds: observeSeconds,
    lateReplies: missing.filter((m) => received.has(m.seq)).length,
    longestGapSeconds: Math.round(longestGap * 1000) / 1000,
    gateways,
  };
}
