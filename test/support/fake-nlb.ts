/**
 * A stand-in for a Network Load Balancer in front of a gateway group, run inside the WAN
 * namespace: it health-checks each target's `GET /active` (as the group's target group does:
 * interval, healthy and unhealthy thresholds) and sends the listener's UDP traffic to the one
 * healthy target by stateless nftables address rewriting (the NLB's address in, the target's
 * replies rewritten back to it, as an NLB's return path does).
 *
 * `node -r ./lab/boot/ts-register.js test/support/fake-nlb.ts SETTINGS_JSON` prints one JSON line per target change.
 */
import { execFileSync } from 'node:child_process';
import { request } from 'node:http';

export interface FakeNlbSettings {
  /** The load balancer's address and the listener's UDP port. */
  address: string;
  port: number;
  /** The targets' addresses, as the load balancer reaches them; the health port. */
  targets: string[];
  healthPort: number;
  intervalMs: number;
  healthyThreshold: number;
  unhealthyThreshold: number;
}

/** The nftables ruleset that sends the listener's traffic to `target` (none: dropped). */
export function nlbRuleset(settings: FakeNlbSettings, target: string | null): string {
  const { address, port, targets } = settings;
  return [
    'table ip fakenlb {',
    '  chain pre {',
    '    type filter hook prerouting priority raw; policy accept;',
    ...(target !== null ? [`    ip daddr ${address} udp dport ${port} notrack ip daddr set ${target}`] : []),
    `    ip saddr { ${targets.join(', ')} } udp sport ${port} notrack ip saddr set ${address}`,
    '  }',
    '}',
  ].join('\n');
}

function checkActive(address: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host: address, port, path: '/active', timeout: timeoutMs, agent: false }, (response) => {
      response.resume();
      resolve(response.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

function apply(settings: FakeNlbSettings, target: string | null): void {
  const text = nlbRuleset(settings, target);
  try {
    execFileSync('nft', ['delete', 'table', 'ip', 'fakenlb'], { stdio: 'ignore' });
  } catch {
    // not there yet
  }
  execFileSync('nft', ['-f', '-'], { input: text });
}

if (require.main === module) {
  const settings = JSON.parse(process.argv[2]!) as FakeNlbSettings;
  const healthy = new Map(settings.targets.map((target) => [target, false]));
  const streak = new Map(settings.targets.map((target) => [target, 0]));
  let current: string | null = null;
  apply(settings, null);
  const round = async (): Promise<void> => {
    const results = await Promise.all(
      settings.targets.map((target) => checkActive(target, settings.healthPort, settings.intervalMs)),
    );
    results.forEach((ok, i) => {
      const target = settings.targets[i]!;
      const was = healthy.get(target)!;
      const run = ok === was ? 0 : streak.get(target)! + 1;
      streak.set(target, run);
      if (run >= (was ? settings.unhealthyThreshold : settings.healthyThreshold)) {
        healthy.set(target, ok);
        streak.set(target, 0);
      }
    });
    // Like an NLB with every target unhealthy (fail open), the last target keeps the traffic.
    const next = settings.targets.find((target) => healthy.get(target)) ?? current;
    if (next !== current) {
      current = next;
      apply(settings, current);
      process.stdout.write(`${JSON.stringify({ target: current, atMs: Date.now() })}\n`);
    }
  };
  setInterval(() => void round(), settings.intervalMs);
}
