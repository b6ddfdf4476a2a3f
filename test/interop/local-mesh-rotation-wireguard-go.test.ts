/**
 * Make-before-break key rotation on the wireguard-go data plane (docs/key-rotation.md, "The kernel
 * and wireguard-go planes"): the demo mesh with every gateway on a real wireguard-go device, then
 * with only the hub on one (wireguard-go rotating beside userspace peers, and userspace sites
 * rotating beside a one-key peer); `wiremesh rotate` (every site) while every LAN host pings every
 * other one every 50 ms. Not one ping is lost when every gateway is on wireguard-go (at most one
 * per switch beside userspace spokes, see below), every phase is done within two reloads, and
 * `status --json` shows the key phases while it runs and every peer steady on the new keys after.
 * The kernel plane runs the same rotation code (planes/single-key-rotation.ts), but this machine
 * has no kernel module to prove it.
 */
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
  wiremeshCliAsync,
  type PhaseTimingJson,
} from '../support/local-mesh';
import { describeWithRoot } from '../support/root-only';

const describeMesh = describeWithRoot('wireguard-go rotation tests', ['wg', 'ping', 'wireguard-go']);
jest.setTimeout(180_000);

const prefix = `wq${process.pid % 100_000}-`;
const stateDirs: string[] = [];
let env: NodeJS.ProcessEnv = {};
/** The agents reload a changed document within 200 ms and check their rotation every second. */
const RELOAD_INTERVAL_S = 1;

interface StatusJson {
  sites: {
    site: string;
    lanHost: string;
    keyVersion: number;
    dataPlane: string;
    peers: { site: string; keyPhase: string }[];
  }[];
}

interface Phases {
  phases: PhaseTimingJson[];
}

function status(): StatusJson {
  return JSON.parse(wiremeshCli(env, 'status', '--json').stdout) as StatusJson;
}

describeMesh('key rotation on wireguard-go gateways (wiremesh up --data-plane, rotate, status)', () => {
  beforeEach(() => {
    const stateDir = mkdtempSync(join(tmpdir(), 'wiremesh-rotation-wg-go-'));
    stateDirs.push(stateDir);
    env = { ...process.env, WIREMESH_STATE_DIR: stateDir, WIREMESH_NAMESPACE_PREFIX: prefix };
  });

  afterEach(() => {
    wiremeshCli(env, 'down');
    for (const stateDir of stateDirs.splice(0)) rmSync(stateDir, { recursive: true, force: true });
  });

  // `wiremesh rotate` schedules each switch beside one-key peers (switchAt). A one-key hub then
  // re-creates a userspace spoke's entry under its next key: what the spoke sends on the old session
  // in that one-way trip is dropped (docs/key-rotation.md). A pair crosses at most two such switches
  // (its two spokes'), a ping every 50 ms: at most one ping each.
  it.each([
    ['every gateway', 'wireguard-go', { hub: 'wireguard-go', 'spoke-a': 'wireguard-go', 'spoke-b': 'wireguard-go' }, 0],
    ['the hub', 'hub=wireguard-go', { hub: 'wireguard-go', 'spoke-a': 'userspace', 'spoke-b': 'userspace' }, 2],
  ])(
    '%s on wireguard-go: every site rotated within the loss bound, the phases shown',
    async (_, planes, expected, maxLostPerPair) => {
      const up = wiremeshCli(env, 'up', '--data-plane', planes);
      if (up.status !== 0) throw new Error(`wiremesh up failed:\n${up.stderr}`);
      const sites = status().sites;
      expect(Object.fromEntries(sites.map((s) => [s.site, s.dataPlane]))).toEqual(expected);
      for (const site of sites) for (const peer of site.peers) expect(peer.keyPhase).toBe('steady');

      const pingers = sites.flatMap((from) =>
        sites.filter((to) => to !== from).map((to) => new Pinger(from.site, `${prefix}${from.site}-lan`, to.lanHost)),
      );
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const rotating = wiremeshCliAsync(env, 'rotate', '--json');
      let finished = false;
      void rotating.then(() => (finished = true));
      // `status` while the rotation runs: the phases it passes through, as an operator sees them.
      const seen = new Set<string>();
      while (!finished) {
        const sample = await wiremeshCliAsync(env, 'status', '--json');
        if (sample.status !== 0) continue;
        for (const site of (JSON.parse(sample.stdout) as StatusJson).sites)
          for (const peer of site.peers)
            if (peer.keyPhase !== 'steady') seen.add(`${site.site}->${peer.site} ${peer.keyPhase}`);
      }
      const rotate = await rotating;
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const results = await stopPingers(pingers);
      if (rotate.status !== 0) throw new Error(`wiremesh rotate failed:\n${rotate.stderr}`);

      const phases = (JSON.parse(rotate.stdout) as Phases).phases;
      process.stdout.write(`phases seen by status: ${[...seen].sort().join(', ')}\n`);
      expectRotationLosing(planes, phases, results, {
        order: rotationOrder('hub', 'spoke-a', 'spoke-b'),
        maxPhaseSeconds: 2 * RELOAD_INTERVAL_S,
        maxLostPerPair,
      });
      expect(seen.size).toBeGreaterThan(0);

      const rotated = status().sites;
      expect(Object.fromEntries(rotated.map((s) => [s.site, s.keyVersion]))).toEqual({
        hub: 2,
        'spoke-a': 2,
        'spoke-b': 2,
      });
      expectAllSteady(rotated);

      expectDownLeavesNothing(env, prefix);
    },
  );
});
