/**
 * A network load balancer's target health, as the NLB keeps it
 * (https://docs.aws.amazon.com/elasticloadbalancing/latest/network/target-group-health-checks.html):
 * - every `intervalSeconds` each registered target is checked with the target group's settings
 *   (HTTP GET of `path` on `port`, passing on the matcher's status, or a TCP connect), each check
 *   failing after `timeoutSeconds`;
 * - a new target is in service after its first passed check; a healthy target turns unhealthy after
 *   `unhealthyThreshold` failed checks in a row, an unhealthy one healthy after `healthyThreshold`
 *   passes in a row;
 * - traffic goes to the healthy targets only; when none is healthy the NLB fails open: all
 *   registered targets (same page);
 * - flows of a target that stops being routable end (connection termination on unhealthy targets,
 *   the target group default): their next packet is hashed to a routable target.
 * UDP flows are hashed on protocol, source and destination address and port. `TargetGroupHealth`
 * is the state (results in, the routable set out); `NlbHealthChecker` the shell that checks, applies
 * the routable set to the router's nft DNAT chain and ends the flows with conntrack.
 */
import { execFile } from 'node:child_process';
import { request } from 'node:http';
import { connect } from 'node:net';
import { promisify } from 'node:util';
import type { LabHealthCheck } from '../deployment';

const execFileAsync = promisify(execFile);

export type TargetState = 'initial' | 'healthy' | 'unhealthy';

export interface NlbTarget {
  name: string;
  privateIp: string;
}

/** A change of the routable targets, with every target's state then. */
export interface NlbEvent {
  at: string;
  routable: string[];
  failOpen: boolean;
  states: Record<string, TargetState>;
}

export class TargetGroupHealth {
  private readonly states = new Map<string, { state: TargetState; passes: number; failures: number }>();

  constructor(
    private readonly targets: readonly string[],
    private readonly check: Pick<LabHealthCheck, 'healthyThreshold' | 'unhealthyThreshold'>,
  ) {
    for (const target of targets) this.states.set(target, { state: 'initial', passes: 0, failures: 0 });
  }

  /** Records one check of `target`. */
  record(target: string, passed: boolean): void {
    const entry = this.states.get(target)!;
    entry.passes = passed ? entry.passes + 1 : 0;
    entry.failures = passed ? 0 : entry.failures + 1;
    if (entry.state === 'initial' && passed) entry.state = 'healthy';
    else if (entry.state !== 'unhealthy' && entry.failures >= this.check.unhealthyThreshold) entry.state = 'unhealthy';
    else if (entry.state === 'unhealthy' && entry.passes >= this.check.healthyThreshold) entry.state = 'healthy';
  }

  stateOf(target: string): TargetState {
    return this.states.get(target)!.state;
  }

  /** The healthy targets, or every registered one when none is (fail open). */
  routable(): { targets: string[]; failOpen: boolean } {
    const healthy = this.targets.filter((t) => this.stateOf(t) === 'healthy');
    return healthy.length > 0 ? { targets: healthy, failOpen: false } : { targets: [...this.targets], failOpen: true };
  }

  snapshot(): Record<string, TargetState> {
    return Object.fromEntries(this.targets.map((t) => [t, this.stateOf(t)]));
  }
}

/** The nft chain body that sends a new flow to one of `addresses` by the UDP flow hash. */
export function dnatRule(table: string, chain: string, addresses: string[]): string {
  const to =
    addresses.length === 1
      ? addresses[0]!
      : `jhash ip saddr . udp sport . ip daddr . udp dport mod ${addresses.length} map { ${addresses.map((a, i) => `${i} : ${a}`).join(', ')} }`;
  return `flush chain ip ${table} ${chain}\nadd rule ip ${table} ${chain} dnat to ${to}\n`;
}

/** One health check: true when it passed within the timeout. */
export function checkTarget(address: string, check: LabHealthCheck): Promise<boolean> {
  const timeout = check.timeoutSeconds * 1000;
  return new Promise((resolve) => {
    if (check.protocol === 'TCP') {
      const socket = connect({ host: address, port: check.port, timeout });
      socket.once('connect', () => (socket.destroy(), resolve(true)));
      socket.once('timeout', () => (socket.destroy(), resolve(false)));
      socket.once('error', () => resolve(false));
      return;
    }
    const matcher = (check.matcher ?? '200').split(',').map((code) => code.trim());
    const probe = request(
      { host: address, port: check.port, path: check.path ?? '/', method: 'GET', timeout },
      (res) => {
        res.resume();
        resolve(matcher.includes(String(res.statusCode)));
      },
    );
    probe.once('timeout', () => probe.destroy());
    probe.once('error', () => resolve(false));
    probe.end();
  });
}

export interface NlbSettings {
  /** The nft table and chain the router's prerouting jumps to for the NLB's addresses and port. */
  table: string;
  chain: string;
  publicIps: string[];
  port: number;
  targets: NlbTarget[];
  healthCheck: LabHealthCheck;
}

export class NlbHealthChecker {
  readonly events: NlbEvent[] = [];
  private readonly health: TargetGroupHealth;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly settings: NlbSettings) {
    this.health = new TargetGroupHealth(
      settings.targets.map((t) => t.name),
      settings.healthCheck,
    );
  }

  async start(): Promise<void> {
    await this.apply();
    this.timer = setInterval(() => void this.round(), this.settings.healthCheck.intervalSeconds * 1000);
    void this.round();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  private async round(): Promise<void> {
    const results = await Promise.all(
      this.settings.targets.map((t) => checkTarget(t.privateIp, this.settings.healthCheck)),
    );
    this.settings.targets.forEach((t, i) => this.health.record(t.name, results[i]!));
    await this.apply();
  }

  /** Applies the routable set when it changed (ending the flows of targets no longer in it); records state changes. */
  private async apply(): Promise<void> {
    const { targets, failOpen } = this.health.routable();
    const states = this.health.snapshot();
    const last = this.events[this.events.length - 1];
    const moved = last === undefined || targets.join() !== last.routable.join();
    if (!moved && JSON.stringify(states) === JSON.stringify(last.states)) return;
    if (moved) await this.route(targets, last?.routable ?? []);
    this.events.push({ at: new Date().toISOString(), routable: targets, failOpen, states });
  }

  private async route(targets: string[], before: string[]): Promise<void> {
    const address = (name: string) => this.settings.targets.find((t) => t.name === name)!.privateIp;
    const nft = execFileAsync('nft', ['-f', '-']);
    nft.child.stdin!.end(dnatRule(this.settings.table, this.settings.chain, targets.map(address)));
    await nft;
    for (const gone of before.filter((t) => !targets.includes(t))) {
      for (const ip of this.settings.publicIps) {
        // conntrack exits 1 when no flow matched.
        await execFileAsync('conntrack', [
          '-D',
          '-p',
          'udp',
          '--orig-dst',
          ip,
          '--orig-port-dst',
          String(this.settings.port),
          '--reply-src',
          address(gone),
        ]).catch(() => undefined);
      }
    }
  }
}
