/**
 * Key rotation and revocation on a running local mesh (docs/key-rotation.md): `wiremesh rotate
 * spoke-a`, then `wiremesh rotate` (every site), while every LAN host pings every other one every
 * 50 ms: not one ping is lost, every phase is done within two reloads, and `status --json` shows
 * every peer steady on the new key versions. Then `wiremesh revoke spoke-b` cuts spoke-b off while
 * hub and spoke-a keep talking. The mesh gets a namespace prefix of its own (WIREMESH_NAMESPACE_PREFIX).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  expectAllSteady,
  expectDownLeavesNothing,
  rotationOrder,
  expectRotationLosing,
  stopPingers,
  Pinger,
  wiremeshCli,
  type CliResult,
  type PhaseTimingJson,
} from '../support/local-mesh';
import { describeWithRoot } from '../support/root-only';

const describeMesh = describeWithRoot('local mesh rotation tests', ['wg', 'ping']);
jest.setTimeout(180_000);

const prefix = `wr${process.pid % 100_000}-`;
const stateDir = mkdtempSync(join(tmpdir(), 'wiremesh-rotation-'));
const env = { ...process.env, WIREMESH_STATE_DIR: stateDir, WIREMESH_NAMESPACE_PREFIX: prefix };
/** The agents reload a changed document within RELOAD_DEBOUNCE_MS and report in their status document every second. */
const RELOAD_INTERVAL_S = 1;

function wiremesh(...args: string[]): CliResult {
  return wiremeshCli(env, ...args);
}

interface StatusJson {
  sites: {
    site: string;
    lanHost: string;
    keyVersion: number;
    revoked: boolean;
    gateway: { namespace: string };
    peers: { site: string; keyPhase: string }[];
  }[];
}

interface Phases {
  phases: PhaseTimingJson[];
}

function status(): StatusJson {
  return JSON.parse(wiremesh('status', '--json').stdout) as StatusJson;
}

function pingOnce(fromNamespace: string, to: string): boolean {
  return (
    spawnSync('ip', ['netns', 'exec', fromNamespace, 'ping', '-n', '-c', '2', '-i', '0.2', '-W', '1', to]).status === 0
  );
}

function lanNamespace(site: string): string {
  return `${prefix}${site}-lan`;
}

describeMesh('key rotation on the local mesh (wiremesh rotate / status / revoke)', () => {
  afterAll(() => {
    wiremesh('down');
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('rotates one site, then every site, losing no ping; revocation cuts the revoked site off', async () => {
    const up = wiremesh('up');
    if (up.status !== 0) throw new Error(`wiremesh up failed:\n${up.stderr}`);
    const sites = status().sites;
    for (const site of sites) for (const peer of site.peers) expect(peer.keyPhase).toBe('steady');

    const pingers = sites.flatMap((from) =>
      sites.filter((to) => to !== from).map((to) => new Pinger(from.site, lanNamespace(from.site), to.lanHost)),
    );
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const one = wiremesh('rotate', 'spoke-a', '--json');
    const all = wiremesh('rotate', '--json');
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const results = await stopPingers(pingers);
    if (one.status !== 0 || all.status !== 0) throw new Error(`wiremesh rotate failed:\n${one.stderr}\n${all.stderr}`);

    const phases = [...(JSON.parse(one.stdout) as Phases).phases, ...(JSON.parse(all.stdout) as Phases).phases];
    expectRotationLosing('userspace', phases, results, {
      order: rotationOrder('spoke-a', 'hub', 'spoke-a', 'spoke-b'),
      maxPhaseSeconds: 2 * RELOAD_INTERVAL_S,
    });

    const rotated = status().sites;
    expect(Object.fromEntries(rotated.map((s) => [s.site, s.keyVersion]))).toEqual({
      hub: 2,
      'spoke-a': 3,
      'spoke-b': 2,
    });
    expectAllSteady(rotated);

    const hub = rotated.find((s) => s.site === 'hub')!;
    const spokeA = rotated.find((s) => s.site === 'spoke-a')!;
    const spokeB = rotated.find((s) => s.site === 'spoke-b')!;
    const revoke = wiremesh('revoke', 'spoke-b');
    expect(revoke.status).toBe(0);
    process.stdout.write(revoke.stdout);
    expect(pingOnce(lanNamespace('spoke-b'), hub.lanHost)).toBe(false);
    expect(pingOnce(lanNamespace('spoke-a'), spokeB.lanHost)).toBe(false);
    expect(pingOnce(lanNamespace('spoke-a'), hub.lanHost)).toBe(true);
    expect(pingOnce(lanNamespace('hub'), spokeA.lanHost)).toBe(true);
    const after = status().sites;
    expect(after.find((s) => s.site === 'spoke-b')!.revoked).toBe(true);
    expect(after.find((s) => s.site === 'hub')!.peers.map((p) => p.site)).toEqual(['spoke-a']);
    expect(wiremesh('rotate', 'spoke-b').status).toBe(1); // a revoked site is not rotated

    expectDownLeavesNothing(env, prefix);
  });
});
