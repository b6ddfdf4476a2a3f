/**
 * The README's main job end to end: `wiremesh up` brings up the default three-site mesh in
 * namespaces, every expected tunnel handshakes, a spoke pings the other spoke through the hub,
 * `status --json` agrees with `plan --json`, and `down` leaves nothing behind (also when run twice,
 * and after a failed `up`).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../agent/package-root';
import { describeWithRoot } from '../support/root-only';

const CLI = join(packageRoot(), 'bin', 'wiremesh.js');
const describeMesh = describeWithRoot('local mesh tests', ['wg']);
jest.setTimeout(120_000);

const stateDir = mkdtempSync(join(tmpdir(), 'wiremesh-state-'));
const env = { ...process.env, WIREMESH_STATE_DIR: stateDir };

function wiremesh(...args: string[]): { status: number; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [CLI, ...args], { env, encoding: 'utf8', timeout: 90_000 });
  return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

function ourNamespaces(): string[] {
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter((n) => n.startsWith('wmesh-'));
}

function agentProcesses(): string {
  const result = spawnSync('pgrep', ['-af', stateDir], { encoding: 'utf8' });
  return result.stdout.trim();
}

interface StatusJson {
  mesh: string;
  sites: { site: string; cidrs: string[]; lanHost: string; peers: { site: string; latestHandshake: number }[] }[];
}

interface PlanJson {
  gateways: { site: string; peers: { site: string }[] }[];
}

describeMesh('the local mesh (wiremesh up / status / exec / down)', () => {
  afterAll(() => {
    wiremesh('down');
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('brings up the default mesh; spokes reach each other through the hub; down removes everything', () => {
    const up = wiremesh('up');
    expect(up.stderr).toContain('==> ');
    expect(up.status).toBe(0);
    expect(up.stdout).toContain('local mesh local-demo');

    const status = JSON.parse(wiremesh('status', '--json').stdout) as StatusJson;
    const plan = JSON.parse(wiremesh('plan', '--json').stdout) as PlanJson;
    expect(status.sites.map((s) => s.site).sort()).toEqual(['hub', 'spoke-a', 'spoke-b']);
    for (const site of status.sites) {
      const planned = plan.gateways.find((g) => g.site === site.site)!;
      expect(site.peers.map((p) => p.site).sort()).toEqual(planned.peers.map((p) => p.site).sort());
      for (const peer of site.peers) expect(peer.latestHandshake).toBeGreaterThan(0);
    }
    const spokeB = status.sites.find((s) => s.site === 'spoke-b')!;
    expect(spokeB.cidrs).toEqual(['198.19.30.0/24']);
    const ping = wiremesh('exec', 'spoke-a', '--', 'ping', '-c', '3', '-i', '0.2', '-W', '2', spokeB.lanHost);
    expect(ping.status).toBe(0);
    // The README's command, exactly: the hub forwards spoke to spoke without ICMP redirects.
    const readmePing = wiremesh('exec', 'spoke-a', '--', 'ping', '-c', '3', spokeB.lanHost);
    expect(readmePing.status).toBe(0);
    expect(readmePing.stdout).toContain('3 received');
    expect(readmePing.stdout).not.toContain('Redirect');

    expect(wiremesh('down').status).toBe(0);
    expect(ourNamespaces()).toEqual([]);
    expect(agentProcesses()).toBe('');
    expect(existsSync(join(stateDir, 'state.json'))).toBe(false);
    expect(wiremesh('down').status).toBe(0); // safe twice
  });

  it('refuses a bad spec before creating anything, listing every error by JSON path', () => {
    const bad = join(mkdtempSync(join(tmpdir(), 'wiremesh-spec-')), 'bad.yaml');
    writeFileSync(
      bad,
      'name: x\ntopology: { type: hub-and-spoke, hubs: [nowhere] }\nsites:\n  - { name: a, provider: local, cidrs: [198.19.1.0/24] }\n  - { name: a, provider: local, cidrs: [198.19.1.128/25] }\n',
    );
    const up = wiremesh('up', bad);
    expect(up.status).toBe(1);
    expect(up.stderr).toContain('$.');
    expect(ourNamespaces()).toEqual([]);
  });

  it('an up that fails half-way removes what it created', () => {
    execFileSync('ip', ['netns', 'add', 'wmesh-spoke-b-gw']); // makes site spoke-b fail
    const up = wiremesh('up');
    expect(up.status).toBe(1);
    expect(up.stderr).toContain('removing what was created');
    expect(ourNamespaces()).toEqual([]);
    expect(agentProcesses()).toBe('');
  });
});
