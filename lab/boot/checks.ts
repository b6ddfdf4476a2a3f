/**
 * What the boot lab checks once the gateways are up, and the rotation measurement:
 * - every gateway reaches agent.ready (lab.follow names the failing step otherwise);
 * - each site's LAN host pings every other site's LAN host, across the tunnels;
 * - every tunnel has handshaken (the VM's own `wg show`);
 * - /healthz answers on the health port from the site router (where the load balancer probes from);
 * - /metrics is not reachable from there (it listens on loopback).
 * The pings around an event (a gateway killed, the deploys of a key rotation: ./rotation.ts):
 * replies lost, and seconds until replies come back.
 */
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { nodeCommand, type BootLab, type GatewayTimings, type RunningGateway } from './lab';
import type { NlbEvent } from './services/nlb';
import type { TransferSide } from './transfer-main';

const execFileAsync = promisify(execFile);

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
  // A load balancer fails open (every target) until a target passes its health checks: a
  // handshake then may reach a group's standby. Count from when each routes to healthy targets.
  await lab.loadBalancersInService();
  const inServiceAt = Math.floor(Date.now() / 1000);
  // The first pings start the handshakes; allow for them, in every direction first: a hub, whose
  // document has no endpoints, reaches a spoke only once the spoke has dialled it (and a spoke whose
  // session a fail-open load balancer gave a standby re-handshakes after 15 s without answers).
  for (const [from, to] of pairs) await lab.pingUntilAnswered(from.lanHost, to.lanAddress, 30_000);
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
    // A standby's handshake from before (the fail-open's) is no tunnel of its own.
    const since = g.network.gateway.standby ? inServiceAt : 0;
    report.handshakes[name] = (await lab.handshakes(g)).every((t) => t > since);
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

/** What a ping printed: replies and "no answer yet" lines (unix s, icmp_seq), the packets it sent. */
export interface PingLog {
  replies: Array<{ at: number; seq: number }>;
  missing: Array<{ at: number; seq: number }>;
  /** From ping's closing statistics; null if it printed none. */
  transmitted: number | null;
}

/**
 * Starts `ping -D -O` of `to` from namespace `ns` every `interval` s: `count` pings, or until
 * `stop()` (SIGINT: ping prints its statistics). `done` resolves with what it printed.
 */
export function startPing(
  ns: string,
  to: string,
  interval: number,
  count?: number,
): { done: Promise<PingLog>; stop(): Promise<PingLog> } {
  const ping = spawn(
    'ip',
    [
      'netns',
      'exec',
      ns,
      'ping',
      '-n',
      '-D',
      '-O',
      '-i',
      String(interval),
      '-W',
      '1',
      ...(count === undefined ? [] : ['-c', String(count)]),
      to,
    ],
    { stdio: ['ignore', 'pipe', 'ignore'] },
  );
  let output = '';
  ping.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  // 'close' (the output read to its end), not 'exit': ping's output to a pipe comes in blocks, the last at exit.
  const done = new Promise<PingLog>((resolve) => ping.on('close', () => resolve(parsePing(output))));
  return {
    done,
    stop: () => {
      ping.kill('SIGINT');
      return done;
    },
  };
}

function parsePing(output: string): PingLog {
  const lines = output.split('\n');
  const matching = (pattern: RegExp) =>
    lines.flatMap((l) => {
      const m = pattern.exec(l);
      return m ? [{ at: Number(m[1]), seq: Number(m[2]) }] : [];
    });
  const transmitted = /(\d+) packets transmitted/.exec(output)?.[1];
  return {
    replies: matching(/^\[(\d+\.\d+)\] \d+ bytes from .* icmp_seq=(\d+)/),
    missing: matching(/^\[(\d+\.\d+)\] no answer yet for icmp_seq=(\d+)/),
    transmitted: transmitted === undefined ? null : Number(transmitted),
  };
}

/** The outcome of a ping log around an event that started at `eventAt` (unix s); the log ended at `endAt`. */
export function pingOutcome(
  log: PingLog,
  sent: number,
  interval: number,
  eventAt: number,
  endAt: number,
): Omit<PingOutcome, 'observedSeconds'> {
  const { replies, missing } = log;
  const received = new Set(replies.map((r) => r.seq));
  const lostSeqs = missing.map((m) => m.seq).filter((seq) => !received.has(seq));
  const firstLost = missing.find((m) => !received.has(m.seq));
  const recovered = firstLost ? replies.find((r) => r.seq > Math.max(...lostSeqs)) : undefined;
  const before = replies.filter((r) => r.at < eventAt).pop();
  const times = [...(before ? [before.at] : []), ...replies.filter((r) => r.at >= eventAt).map((r) => r.at)];
  if (firstLost && !recovered) times.push(endAt);
  const longestGap = times.reduce((gap, at, i) => (i === 0 ? gap : Math.max(gap, at - times[i - 1]!)), 0);
  return {
    pingIntervalSeconds: interval,
    sent,
    lost: sent - received.size,
    outageStartSeconds: firstLost ? Math.max(0, firstLost.at - eventAt) : null,
    recoverySeconds: firstLost ? (recovered ? recovered.at - eventAt : null) : 0,
    lateReplies: missing.filter((m) => received.has(m.seq)).length,
    longestGapSeconds: Math.round(longestGap * 1000) / 1000,
  };
}

/**
 * Pings `to` from namespace `ns` every `interval` s for `observeSeconds`; `event` runs
 * `eventDelaySeconds` in and the outcome is measured from its start.
 */
async function pingAround<T>(
  ns: string,
  to: string,
  observeSeconds: number,
  interval: number,
  event: () => Promise<T>,
  eventDelaySeconds = 3,
): Promise<{ outcome: PingOutcome; eventAt: number; result: T }> {
  const count = Math.round(observeSeconds / interval);
  const ping = startPing(ns, to, interval, count);
  await new Promise((resolve) => setTimeout(resolve, eventDelaySeconds * 1000));
  const eventAt = Date.now() / 1000;
  const result = await event();
  const log = await ping.done;
  const endAt = Date.now() / 1000;
  return {
    eventAt,
    result,
    outcome: { ...pingOutcome(log, count, interval, eventAt, endAt), observedSeconds: observeSeconds },
  };
}

/** Seconds after `since` (unix s) of the first agent log event named `event` after `since`. */
export function eventAfter(log: string, event: string, since: number, after = since): number | null {
  for (const line of log.split('\n')) {
    if (!line.includes(`"event":"${event}"`)) continue;
    const time = /"time":"([^"]+)"/.exec(line)?.[1];
    const at = time ? Date.parse(time) / 1000 : NaN;
    if (at >= after) return at - since;
  }
  return null;
}

/** The transfer across the group: what the spoke's LAN host sent and what the group's LAN host received. */
export interface FailoverTransfer {
  sent: TransferSide | null;
  received: TransferSide | null;
  /** Every byte arrived, in order (same count and sha256). */
  complete: boolean;
}

export interface FailoverReport extends PingOutcome {
  killed: string;
  survivor: string;
  transfer: FailoverTransfer;
  /** Seconds after the kill: the survivor's agent logged its takeover, EC2 applied its last ReplaceRoute. */
  takeoverSeconds: number | null;
  routesMovedSeconds: number | null;
  /** Seconds after the kill the NLB routed to the survivor only (it passed its health checks, the killed one failed). */
  nlbSwitchedSeconds: number | null;
  /** The NLB's target health changes after the kill (seconds after it). */
  nlbEvents: Array<{ seconds: number; routable: string[]; failOpen: boolean; states: NlbEvent['states'] }>;
  /** Seconds after the kill of the first handshake the spoke completed (with the survivor, through the NLB). */
  spokeHandshakeSeconds: number | null;
  /** Where the group's routes point afterwards: every route table in EC2, and the site router's routing. */
  routeTablesAtSurvivor: boolean;
  routerRoutesAtSurvivor: boolean;
}

/** Transfer port on the group's LAN host. */
const TRANSFER_PORT = 5201;

/** Starts lab/boot/transfer-main.ts in `ns`; resolves with its JSON line, or null if it failed or ran out of time. */
function transferSide(
  ns: string,
  args: string[],
  ready?: () => void,
  timeoutMs = 180_000,
): Promise<TransferSide | null> {
  const [command, commandArgs] = nodeCommand('transfer-main.ts', args, ns);
  const child = spawn(command, commandArgs, { stdio: ['ignore', 'pipe', 'ignore'] });
  let output = '';
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('ready\n')) ready?.();
    });
    child.on('close', () => {
      clearTimeout(timer);
      const line = output.split('\n').find((l) => l.startsWith('{'));
      resolve(line ? (JSON.parse(line) as TransferSide) : null);
    });
  });
}

/**
 * A group's active gateway (the one the routes point at) killed mid-transfer: its container's init
 * gets SIGKILL (the instance dies, nothing shuts down) `killAfterSeconds` into a TCP transfer of
 * `transferSeconds` paced at `rate` bytes/s from the spoke's LAN host to the group's LAN host,
 * while the spoke's LAN host also pings the group's LAN host every 0.1 s for `observeSeconds`.
 * The survivor's agent moves the routes through the lab's EC2 API, the lab's NLB follows its
 * health checks of GET /active; the figures come from the pings, the transfer's digests and the
 * services' and agents' logs.
 */
export async function measureFailover(
  lab: BootLab,
  { observeSeconds = 60, transferSeconds = 35, killAfterSeconds = 8, rate = 256 * 1024 } = {},
): Promise<FailoverReport> {
  const [lb] = lab.deployment.loadBalancers;
  if (!lb) throw new Error('failover needs a gateway group behind a load balancer (examples/hub-spoke-ha)');
  const group = lab.network.sites.find((s) => s.site === lb.site)!;
  const spoke = lab.network.sites.find((s) => s !== group);
  if (!spoke) throw new Error('failover needs a second site');
  const realized = (await lab.ec2()).routeTables.find((t) => lab.network.routeTableRouters[t.id] === group.router);
  const holder = realized?.routes[0]?.networkInterfaceId;
  const members = lab.gateways.filter((g) => lb.targets.includes(g.network.gateway.name));
  const active = members.find((g) => g.network.gateway.networkInterfaceId === holder);
  const survivor = members.find((g) => g !== active);
  if (!active || !survivor) throw new Error(`failover: no active member (routes at ${holder}) and a second one`);
  let listening!: () => void;
  const ready = new Promise<void>((resolve) => (listening = resolve));
  const received = transferSide(group.lanHost, ['receive', group.lanAddress, String(TRANSFER_PORT)], () => listening());
  await ready;
  const sent = transferSide(spoke.lanHost, [
    'send',
    group.lanAddress,
    String(TRANSFER_PORT),
    String(transferSeconds),
    String(rate),
  ]);
  const { outcome, eventAt } = await pingAround(
    spoke.lanHost,
    group.lanAddress,
    observeSeconds,
    0.1,
    async () => {
      process.kill(active.vm.initPid()!, 'SIGKILL');
    },
    killAfterSeconds,
  );
  const transfer = { sent: await sent, received: await received };
  const after = (iso: string) => Date.parse(iso) / 1000 - eventAt;
  const ec2 = await lab.ec2();
  const moves = ec2.changes.filter((c) => c.by === survivor.network.gateway.name && after(c.at) >= 0);
  const nlbEvents = (await lab.loadBalancerEvents(0))
    .filter((e) => after(e.at) >= 0)
    .map((e) => ({ seconds: round(after(e.at)), routable: e.routable, failOpen: e.failOpen, states: e.states }));
  const survivorName = survivor.network.gateway.name;
  const survivorLog = await agentLog(survivor);
  const spokeGateway = lab.gateways.find((g) => g.network.site === spoke)!;
  const survivorEni = survivor.network.gateway.networkInterfaceId;
  const routerRoutes = (await execFileAsync('ip', ['-n', group.router, 'route', 'show'])).stdout;
  return {
    killed: active.network.gateway.name,
    survivor: survivorName,
    ...outcome,
    transfer: {
      ...transfer,
      complete:
        transfer.sent !== null &&
        transfer.received !== null &&
        transfer.sent.bytes === transfer.received.bytes &&
        transfer.sent.sha256 === transfer.received.sha256,
    },
    takeoverSeconds: roundOrNull(eventAfter(survivorLog, 'failover.takeover', eventAt)),
    routesMovedSeconds: moves.length > 0 ? round(after(moves[moves.length - 1]!.at)) : null,
    nlbSwitchedSeconds:
      nlbEvents.find((e) => !e.failOpen && e.routable.length === 1 && e.routable[0] === survivorName)?.seconds ?? null,
    nlbEvents,
    spokeHandshakeSeconds: roundOrNull(eventAfter(await agentLog(spokeGateway), 'handshake.complete', eventAt)),
    routeTablesAtSurvivor: ec2.routeTables
      .filter((t) => t.site === group.site)
      .every((t) => t.routes.every((r) => r.networkInterfaceId === survivorEni)),
    routerRoutesAtSurvivor: (realized?.routes ?? []).every((r) =>
      new RegExp(
        `^${r.destination.replace(/[./]/g, '\\$&')} via ${survivor.network.privateIp.replace(/\./g, '\\.')} `,
        'm',
      ).test(routerRoutes),
    ),
  };
}

export async function agentLog(gateway: RunningGateway): Promise<string> {
  return (await gateway.vm.exec(['journalctl', '-u', 'wiremesh-agent', '-o', 'cat', '--no-pager'])) ?? '';
}

const round = (seconds: number) => Math.round(seconds * 10) / 10;
const roundOrNull = (seconds: number | null) => (seconds === null ? null : round(seconds));
